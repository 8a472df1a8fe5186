"""SEREP's networks (supplementary Table 1) as spiral mesh convolutions over a ``MeshHierarchy``.

E_exp, E_id: SpiralConv x5 (3->32->32->32->64->64), a down-sampling after each of the first four,
then Linear to a 64-d code.  D_mesh: Linear(128 -> V_coarsest*64), then SpiralConv x5
(64->64->32->32->32->3) with an up-sampling before each of the last four.

Units: meshes enter and leave in centimetres (``SCALE`` times metres) so activations are O(1).
E_exp reads the expressive mesh minus its identity's neutral, E_id reads the neutral minus the
template, and D_mesh returns the displacement from the identity's neutral (the README says why).
"""
from __future__ import annotations

import torch
from torch import nn

from models.semantic.train.hierarchy import MeshHierarchy

SCALE = 100.0  # metres -> centimetres
ENC_CHANNELS = (3, 32, 32, 32, 64, 64)
DEC_CHANNELS = (64, 64, 32, 32, 32, 3)
CODE = 64


class SpiralConv(nn.Module):
    """y_v = W [x_s1 || x_s2 || ... || x_sS] + b over the spiral sequence s of vertex v.

    When the layer narrows the channels (the decoder's last, 32 -> 3) the same product is computed
    as "project every vertex by each W_k, then gather and sum", which moves S*out instead of S*in
    values per vertex: identical result, several times less memory traffic.
    """

    def __init__(self, in_ch: int, out_ch: int, spirals: torch.Tensor):
        super().__init__()
        self.register_buffer("spirals", spirals.long(), persistent=False)
        s = spirals.shape[1]
        # flat index of (vertex spirals[v, k], slot k) in a (V * S) table, for project-then-gather
        self.register_buffer("slots", (spirals.long() * s + torch.arange(s)).reshape(-1), persistent=False)
        self.in_ch, self.out_ch, self.length = in_ch, out_ch, s
        self.linear = nn.Linear(in_ch * s, out_ch)
        nn.init.xavier_uniform_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, V, C) -> (B, V, out)
        b, v, _ = x.shape
        if self.out_ch < self.in_ch:
            w = self.linear.weight.reshape(self.out_ch, self.length, self.in_ch)
            z = torch.matmul(x, w.permute(2, 1, 0).reshape(self.in_ch, self.length * self.out_ch))
            z = torch.index_select(z.reshape(b, v * self.length, self.out_ch), 1, self.slots)
            return z.reshape(b, v, self.length, self.out_ch).sum(2) + self.linear.bias
        g = torch.index_select(x, 1, self.spirals.reshape(-1)).reshape(b, v, -1)
        return self.linear(g)


class Pool(nn.Module):
    def __init__(self, index: torch.Tensor):
        super().__init__()
        self.register_buffer("index", index.long(), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.index_select(x, 1, self.index)


class Unpool(nn.Module):
    def __init__(self, index: torch.Tensor, weights: torch.Tensor):
        super().__init__()
        self.register_buffer("index", index.long(), persistent=False)
        self.register_buffer("weights", weights.float(), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = x.shape[0]
        g = torch.index_select(x, 1, self.index.reshape(-1)).reshape(b, self.index.shape[0], 3, x.shape[-1])
        return (g * self.weights[None, :, :, None]).sum(2)


def _t(a):
    return torch.as_tensor(a)


class Encoder(nn.Module):
    def __init__(self, h: MeshHierarchy, code: int = CODE, channels=ENC_CHANNELS, linear_path: bool = False):
        super().__init__()
        if h.n_levels != len(channels) - 1:
            raise ValueError(f"Encoder needs a hierarchy of {len(channels) - 1} levels, got {h.n_levels}")
        self.convs = nn.ModuleList(SpiralConv(channels[i], channels[i + 1], _t(h.spirals[i]))
                                   for i in range(h.n_levels))
        self.pools = nn.ModuleList(Pool(_t(d)) for d in h.down)
        self.fc = nn.Linear(h.sizes[-1] * channels[-1], code)
        self.act = nn.ELU()
        # optional linear path: the whole input straight to the code, beside the spiral path (zero until
        # ``pca_init`` sets it to a PCA projection)
        self.linear_path = nn.Linear(h.sizes[0] * channels[0], code) if linear_path else None
        if self.linear_path is not None:
            nn.init.zeros_(self.linear_path.weight)
            nn.init.zeros_(self.linear_path.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, V, 3) cm -> (B, code)
        direct = self.linear_path(x.reshape(x.shape[0], -1)) if self.linear_path is not None else 0
        for i, conv in enumerate(self.convs):
            x = self.act(conv(x))
            if i < len(self.pools):
                x = self.pools[i](x)
        return self.fc(x.reshape(x.shape[0], -1)) + direct


class Decoder(nn.Module):
    def __init__(self, h: MeshHierarchy, code: int = 2 * CODE, channels=DEC_CHANNELS, linear_in: int = 0):
        super().__init__()
        if h.n_levels != len(channels) - 1:
            raise ValueError(f"Decoder needs a hierarchy of {len(channels) - 1} levels, got {h.n_levels}")
        n = h.n_levels
        self.coarse = (h.sizes[-1], channels[0])
        self.fc = nn.Linear(code, h.sizes[-1] * channels[0])
        # conv i runs on level n-1-i; an up-sampling to that level precedes every conv but the first
        self.convs = nn.ModuleList(SpiralConv(channels[i], channels[i + 1], _t(h.spirals[n - 1 - i]))
                                   for i in range(n))
        self.unpools = nn.ModuleList(Unpool(_t(h.up_index[n - 2 - i]), _t(h.up_weights[n - 2 - i]))
                                     for i in range(n - 1))
        self.act = nn.ELU()
        # start from "no displacement" (the neutral) rather than from noise
        nn.init.zeros_(self.convs[-1].linear.weight)
        # optional linear path: the first ``linear_in`` code entries (the expression code) straight to
        # the output, beside the spiral path (zero until ``pca_init`` sets it to a PCA basis)
        self.linear_in = linear_in
        self.linear_path = nn.Linear(linear_in, h.sizes[0] * channels[-1]) if linear_in else None
        if self.linear_path is not None:
            nn.init.zeros_(self.linear_path.weight)
            nn.init.zeros_(self.linear_path.bias)

    def forward(self, z: torch.Tensor) -> torch.Tensor:  # (B, code) -> (B, V, 3) cm
        x = self.fc(z).reshape(z.shape[0], *self.coarse)
        for i, conv in enumerate(self.convs):
            if i > 0:
                x = self.unpools[i - 1](x)
            x = conv(x)
            if i < len(self.convs) - 1:
                x = self.act(x)
        if self.linear_path is not None:
            x = x + self.linear_path(z[:, :self.linear_in]).reshape(x.shape)
        return x


class SemanticAutoencoder(nn.Module):
    """The three networks together; meshes in metres at this interface."""

    def __init__(self, h: MeshHierarchy, template: torch.Tensor, linear_paths: bool = False):
        super().__init__()
        self.e_exp = Encoder(h)  # never a linear path: see pca_init.py
        self.e_id = Encoder(h, linear_path=linear_paths)
        self.d_mesh = Decoder(h, linear_in=CODE if linear_paths else 0)
        self.register_buffer("template", torch.as_tensor(template).float(), persistent=False)

    def encode_expression(self, mesh: torch.Tensor, neutral: torch.Tensor) -> torch.Tensor:
        return self.e_exp((mesh - neutral) * SCALE)

    def encode_identity(self, neutral: torch.Tensor) -> torch.Tensor:
        return self.e_id((neutral - self.template) * SCALE)

    def displacement(self, z_exp: torch.Tensor, z_id: torch.Tensor) -> torch.Tensor:
        return self.d_mesh(torch.cat([z_exp, z_id], -1)) / SCALE

    def decode(self, z_exp: torch.Tensor, z_id: torch.Tensor, neutral: torch.Tensor) -> torch.Tensor:
        return neutral + self.displacement(z_exp, z_id)
