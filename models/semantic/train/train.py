"""Training loop: progress bar, periodic validation, atomic checkpoints, resume; data-parallel under torchrun
(models.distributed: each rank draws its share of every batch from its own stream, rank 0 writes)."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import time
from pathlib import Path

import numpy as np
import torch

from models.atomic_io import atomic_write, write_text
from models import distributed
from models.checkpoints import Checkpoints
from models.vocab import arkit
from models.semantic import data as D
from models.semantic.presets import TrainConfig
from models.semantic.train.hierarchy import load_hierarchy
from models.semantic.train.losses import ExpressionSpace, LossWeights, Losses, lid_pairs
from models.semantic.train.networks import SemanticAutoencoder
from models.semantic.train.pca_init import linear_path_parameters, pca_init


def run_dir_for(config: TrainConfig, asset_key: str, cache_dir: Path) -> Path:
    settings = {k: v for k, v in dataclasses.asdict(config).items() if k != "threads"}  # threads change speed only
    key = hashlib.sha256(json.dumps({**settings, "asset": asset_key},
                                    sort_keys=True).encode()).hexdigest()[:12]
    return Path(cache_dir) / "runs" / key


def atomic_torch_save(obj, path: Path) -> None:
    atomic_write(path, lambda handle: torch.save(obj, handle))


def build_model(asset, cache_dir: Path, linear_paths: bool = False) -> SemanticAutoencoder:
    h = load_hierarchy(asset.template, asset.faces, Path(cache_dir))
    return SemanticAutoencoder(h, torch.as_tensor(asset.template), linear_paths)


def learning_rate(config: TrainConfig, step: int, progress: float) -> float:
    warm = min(1.0, (step + 1) / max(config.warmup_steps, 1))
    cos = 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))
    return warm * (config.lr_final + (config.lr - config.lr_final) * cos)


def partner_indices(identity: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each sample a partner of another identity (its expression code is borrowed); mask of valid pairs."""
    n = len(identity)
    perm = (np.arange(n) + 1) % n
    return perm, identity[perm] != identity


def train_step(model, losses: Losses, batch: D.Batch, config: TrainConfig, device,
               space: ExpressionSpace | None = None) -> dict[str, torch.Tensor]:
    mesh = torch.as_tensor(batch.meshes, device=device)
    neutral = torch.as_tensor(batch.neutrals, device=device)
    z_exp = model.encode_expression(mesh, neutral)
    z_id = model.encode_identity(neutral)
    pred = neutral + model.displacement(z_exp, z_id)
    terms = losses.geometric(pred, mesh)
    c = min(config.cycle_batch, len(mesh))
    perm, valid = partner_indices(batch.identity[:c])
    if c > 1 and valid.any():
        perm_t = torch.as_tensor(perm, device=device)
        valid_t = torch.as_tensor(valid, device=device)
        borrowed = z_exp[:c][perm_t]
        swapped_displacement = model.displacement(borrowed, z_id[:c])
        swapped = neutral[:c] + swapped_displacement
        recovered = model.encode_expression(swapped, neutral[:c])
        terms["cycle"] = Losses.cycle(recovered[valid_t], borrowed[valid_t])
        source = perm_t[valid_t]  # the sample each borrowed code came from
        terms["eyes_cycle"] = losses.eyes_cycle(swapped[valid_t], neutral[:c][valid_t], mesh[source], neutral[source])
        if space is not None:
            terms["space"] = space.distance(swapped_displacement[valid_t], batch.identity[:c][valid])
    else:
        terms["cycle"] = terms["eyes_cycle"] = mesh.new_zeros(())
    terms.setdefault("space", mesh.new_zeros(()))
    return terms


@dataclasses.dataclass
class ValidationSet:
    meshes: np.ndarray
    neutrals: np.ndarray
    targets: np.ndarray  # the same expression on a different identity (for retargeting)
    target_neutrals: np.ndarray
    face: np.ndarray  # (V,) bool


def make_validation(asset, config: TrainConfig, sampler, cache_dir: Path) -> ValidationSet:
    pool = D.load_pool(asset, config.val_identities, D.VALIDATION_SEED, cache_dir, config.identity_sigma)
    rng = np.random.default_rng(D.VALIDATION_SEED)
    cols = arkit.columns(asset.shape_names)
    w = sampler(rng, config.val_samples)
    a = rng.integers(0, len(pool), config.val_samples)
    b = (a + 1 + rng.integers(0, len(pool) - 1, config.val_samples)) % len(pool) if len(pool) > 1 else a
    return ValidationSet(D.pose(pool, a, w, cols), pool.neutrals[a], D.pose(pool, b, w, cols), pool.neutrals[b],
                         asset.regions["face"].astype(bool))


@torch.no_grad()
def validate(model, val: ValidationSet, device, chunk: int = 32) -> dict[str, float]:
    model.eval()
    rec, ret = [], []
    face = torch.as_tensor(val.face, device=device)
    for s in range(0, len(val.meshes), chunk):
        m = torch.as_tensor(val.meshes[s:s + chunk], device=device)
        n = torch.as_tensor(val.neutrals[s:s + chunk], device=device)
        t = torch.as_tensor(val.targets[s:s + chunk], device=device)
        tn = torch.as_tensor(val.target_neutrals[s:s + chunk], device=device)
        z = model.encode_expression(m, n)
        rec.append((model.decode(z, model.encode_identity(n), n) - m)[:, face].norm(dim=-1).mean(1))
        ret.append((model.decode(z, model.encode_identity(tn), tn) - t)[:, face].norm(dim=-1).mean(1))
    model.train()
    return {"recon_mm": float(torch.cat(rec).mean()) * 1000, "retarget_mm": float(torch.cat(ret).mean()) * 1000}


def train(asset, config: TrainConfig, cache_dir: Path, run_dir: Path | None = None, fresh: bool = False,
          sampler=None, log=print, show_progress: bool = True) -> Path:
    """Train (or resume) a run; returns its directory holding ``last.pt`` and ``best.pt``. Under torchrun every
    rank calls this; `config.batch` (and `cycle_batch`) stay the global batch, split over the ranks, so a run
    follows the same schedule at any world size and resumes at another one."""
    with distributed.session(config.device) as world:
        return _train(asset, config, cache_dir, run_dir, fresh, sampler, world.main_only(log),
                      show_progress and world.is_main, world)


def _train(asset, config: TrainConfig, cache_dir: Path, run_dir, fresh: bool, sampler, log, show_progress: bool,
           world: distributed.World) -> Path:
    from tqdm import tqdm

    torch.set_num_threads(max(1, config.threads))
    device = world.training_device(config.device, config.batch)
    rank_config = dataclasses.replace(config, batch=world.share(config.batch),
                                      cycle_batch=max(1, world.share(config.cycle_batch)))
    weight = rank_config.batch * world.size / config.batch  # this rank's share of the gradient average
    cache_dir = Path(cache_dir)
    sampler = sampler or D.default_sampler(p_blink=config.p_blink)
    run_dir = Path(run_dir) if run_dir else run_dir_for(config, D.asset_digest(asset), cache_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    if world.is_main:
        write_text(run_dir / "config.json", json.dumps(dataclasses.asdict(config), indent=1))

    torch.manual_seed(D.TRAIN_SEED)
    with world.main_first():  # rank 0 builds the cached hierarchy and pools, the others read them
        model = build_model(asset, cache_dir, config.linear_paths).to(device)
        log(f"building identity pool ({config.pool} identities, cached after the first time)")
        pool = D.load_pool(asset, config.pool, D.TRAIN_SEED, cache_dir, config.identity_sigma)
        val = make_validation(asset, config, sampler, cache_dir)
    weights = dataclasses.replace(LossWeights(), space=config.space_weight)
    losses = Losses(asset.faces, asset.n_vertices, lid_pairs(asset), weights).to(device)
    opt, lr_scales = make_optimizer(model, config)
    stream = D.TrainingStream(pool, asset.shape_names, sampler, D.TRAIN_SEED)
    space = ExpressionSpace(pool.shapes) if losses.weights.space else None

    step, elapsed, best, history = 0, 0.0, math.inf, []
    last = run_dir / "last.pt"
    resuming = bool(world.agree(last.is_file() and not fresh))
    if config.linear_paths and not resuming:
        start_linear_paths(model, asset, pool, sampler, config, log)
    saved_rngs = None
    if resuming:
        step, elapsed, best, history, saved_rngs = resume(last, model, opt, device)
        log(f"resuming {run_dir} at step {step} ({elapsed / 60:.1f} min trained"
            + (f", {len(saved_rngs)} process(es) then, {world.size} now)" if len(saved_rngs) != world.size else ")"))
    stream.rng = distributed.rank_rng(D.TRAIN_SEED, world, saved_rngs, step)
    world.broadcast_module(model)

    def save(path: Path):
        rngs = world.gather(stream.rng.bit_generator.state)
        if world.is_main:
            atomic_torch_save({"model": model.state_dict(), "optimizer": opt.state_dict(), "rng": rngs[0],
                               "rank_rngs": rngs, "step": step, "elapsed": elapsed, "best": checkpoints.best,
                               "history": history, "config": dataclasses.asdict(config),
                               "asset": D.asset_digest(asset), "template": np.asarray(asset.template),
                               "faces": np.asarray(asset.faces)}, path)

    checkpoints = Checkpoints(run_dir, save, config.checkpoint_every_s, best, world)

    budget = config.minutes * 60
    progress = max(step / config.steps, elapsed / budget)
    # the schedule ends on steps or minutes, whichever comes first: the bar shows that fraction
    bar = tqdm(total=1000, initial=int(1000 * min(progress, 1.0)), disable=not show_progress, dynamic_ncols=True,
               mininterval=2.0, bar_format="{l_bar}{bar}| {elapsed}<{remaining} {postfix}")
    t0 = time.monotonic() - elapsed
    running = {}
    while progress < 1.0:
        lr = learning_rate(config, step, progress)
        terms, loss = optimise(model, losses, opt, [lr * scale for scale in lr_scales],
                               stream.next(rank_config.batch), rank_config, device, space, world, weight)
        step += 1
        elapsed = world.agree(time.monotonic() - t0)
        progress = max(step / config.steps, elapsed / budget)
        for k, v in terms.items():
            x = float(v.detach())
            running[k] = 0.98 * running.get(k, x) + 0.02 * x
        bar.update(int(1000 * min(progress, 1.0)) - bar.n)
        if step % 20 == 0:
            bar.set_postfix(step=step, loss=f"{float(loss.detach()):.4f}", rec_mm=f"{running['rec'] * 10:.3f}",
                            cyc=f"{running['cycle']:.3f}", lr=f"{lr:.1e}", refresh=False)
        if step % config.val_every == 0 or progress >= 1.0:
            v = validate(model, val, device)
            history.append({"step": step, "minutes": elapsed / 60, **v, **{k: round(x, 6) for k, x in running.items()}})
            log(f"step {step} {elapsed / 60:.1f} min: val recon {v['recon_mm']:.3f} mm, "
                f"retarget {v['retarget_mm']:.3f} mm, train rec {running['rec'] * 10:.3f} mm")
            checkpoints.score(v["recon_mm"] + v["retarget_mm"])
        checkpoints.tick(final=progress >= 1.0)
    bar.close()
    checkpoints.close()
    return run_dir


def optimise(model, losses: Losses, opt, lrs: list[float], batch: D.Batch, config: TrainConfig, device, space,
             world: distributed.World = distributed.World(), weight: float = 1.0):
    """One optimiser step at the given learning rate of each parameter group, on the gradient averaged over the
    ranks (`weight`: this rank's share, see World.average_gradients); returns (terms, total loss)."""
    for g, lr in zip(opt.param_groups, lrs):
        g["lr"] = lr
    terms = train_step(model, losses, batch, config, device, space)
    loss = losses.total(terms)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    world.average_gradients(model, weight)
    opt.step()
    return terms, loss


def make_optimizer(model, config: TrainConfig):
    """Adam, and the learning-rate scale of each of its parameter groups: the linear paths (when the model has
    them) get their own group, so runs without them keep one group and their checkpoints still resume."""
    linear = linear_path_parameters(model)
    linear_ids = {id(p) for p in linear}
    groups = [{"params": [p for p in model.parameters() if id(p) not in linear_ids]}]
    if linear:
        groups.append({"params": linear})
    return torch.optim.Adam(groups, lr=config.lr), (1.0, config.linear_lr_scale)


def start_linear_paths(model, asset, pool: D.IdentityPool, sampler, config: TrainConfig, log) -> None:
    """Set the linear paths from a PCA of `config.pca_samples` expressions (their own stream) and the pool's
    identities."""
    pca_stream = D.TrainingStream(pool, asset.shape_names, sampler, D.PCA_SEED)
    chunks = [pca_stream.next(min(256, config.pca_samples - s)) for s in range(0, config.pca_samples, 256)]
    displacements = np.concatenate([(c.meshes - c.neutrals).astype(np.float32) for c in chunks])
    expression, identity = pca_init(model, displacements, pool.neutrals - asset.template)
    log(f"linear paths from PCA: {expression.explained:.4%} of the expression variance, "
        f"{identity.explained:.4%} of the identity variance")


def resume(last: Path, model, opt, device):
    """Load a checkpoint's model and optimizer; returns (step, elapsed, best, history, the data streams' states
    per rank of the run that wrote it)."""
    ck = torch.load(last, map_location=device, weights_only=False)
    model.load_state_dict(ck["model"])
    opt.load_state_dict(ck["optimizer"])
    return ck["step"], ck["elapsed"], ck["best"], ck["history"], ck.get("rank_rngs", [ck["rng"]])


def load_trained(asset, checkpoint: Path, cache_dir: Path, device="cpu", log=None) -> SemanticAutoencoder:
    """The model of a checkpoint, on the mesh hierarchy of the template it was trained with."""
    checkpoint = Path(checkpoint)
    if not checkpoint.is_file():
        raise FileNotFoundError(f"checkpoint {checkpoint} does not exist; train first with "
                                "`python -m models.semantic train`")
    ck = torch.load(checkpoint, map_location=device, weights_only=False)
    template = ck.get("template", asset.template)
    faces = ck.get("faces", asset.faces)
    if template.shape != asset.template.shape or not np.array_equal(faces, asset.faces):
        raise RuntimeError(f"checkpoint {checkpoint} is for another mesh topology than the head asset")
    if ck.get("asset") != D.asset_digest(asset) and log is not None:
        log(f"note: {checkpoint.name} was trained on another build of the head asset (same topology)")
    h = load_hierarchy(template, faces, Path(cache_dir))
    linear_paths = "d_mesh.linear_path.weight" in ck["model"]  # also right for checkpoints from before the option
    model = SemanticAutoencoder(h, torch.as_tensor(template), linear_paths).to(device)
    model.load_state_dict(ck["model"])
    return model.eval()
