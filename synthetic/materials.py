"""Procedural shaders (bpy): skin, eyes, teeth, gums, occluders. Built once; per sample only the
values of named parameter nodes change, so Cycles never rebuilds the scene."""
from __future__ import annotations

import bpy

from .sampling import SampleParams


def srgb_to_linear(color):
    """Colours are drawn as display (sRGB) values; Blender's shader inputs are scene-linear."""
    return tuple(c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in color)


class Graph:
    """Small helper around a node tree: named parameter nodes and socket-by-identifier links."""

    def __init__(self, tree):
        self.tree = tree
        self.params: dict[str, bpy.types.Node] = {}

    @classmethod
    def empty(cls, owner) -> "Graph":
        """A Graph over the node tree of a material or world, emptied of its default nodes."""
        if owner.node_tree is None:  # Blender 4.x; 5.0 deprecates use_nodes (always on)
            owner.use_nodes = True
        for n in list(owner.node_tree.nodes):
            owner.node_tree.nodes.remove(n)
        return cls(owner.node_tree)

    def node(self, kind, **settings):
        n = self.tree.nodes.new(kind)
        for key, value in settings.items():
            if key.startswith("in_"):
                self.socket(n.inputs, key[3:]).default_value = value
            else:
                setattr(n, key, value)
        return n

    @staticmethod
    def socket(sockets, name):
        for s in sockets:
            if s.identifier == name:
                return s
        for candidate in (name, name.replace("_", " ")):
            for s in sockets:
                if s.name == candidate and getattr(s, "enabled", True):
                    return s
        raise KeyError(f"no socket {name!r} in {[s.identifier for s in sockets]}")

    def link(self, out_node, out_name, in_node, in_name):
        self.tree.links.new(self.socket(out_node.outputs, out_name), self.socket(in_node.inputs, in_name))

    def value(self, name, default=0.0):
        n = self.node("ShaderNodeValue")
        n.outputs[0].default_value = default
        n.label = name
        self.params[name] = n
        return n

    def rgb(self, name, default=(0.5, 0.5, 0.5)):
        n = self.node("ShaderNodeRGB")
        n.outputs[0].default_value = (*srgb_to_linear(default), 1.0)
        n.label = name
        self.params[name] = n
        return n

    def set(self, name, value):
        out = self.params[name].outputs[0]
        out.default_value = (*srgb_to_linear(value), 1.0) if isinstance(value, (tuple, list)) else float(value)

    def math(self, op, a, b=None, clamp=False):
        """a, b: (node, output) pairs or floats."""
        n = self.node("ShaderNodeMath", operation=op, use_clamp=clamp)
        for i, x in enumerate((a, b)):
            if x is None:
                continue
            if isinstance(x, tuple):
                self.tree.links.new(self.socket(x[0].outputs, x[1]) if isinstance(x[1], str) else x[0].outputs[x[1]],
                                    n.inputs[i])
            else:
                n.inputs[i].default_value = x
        return n

    def mix_color(self, factor, a, b):
        """factor: (node, output); a, b: (node, output) colours."""
        n = self.node("ShaderNodeMix", data_type="RGBA", clamp_factor=True)
        self.tree.links.new(self.socket(factor[0].outputs, factor[1]), self.socket(n.inputs, "Factor_Float"))
        self.tree.links.new(self.socket(a[0].outputs, a[1]), self.socket(n.inputs, "A_Color"))
        self.tree.links.new(self.socket(b[0].outputs, b[1]), self.socket(n.inputs, "B_Color"))
        return n

    def attribute(self, name):
        return self.node("ShaderNodeAttribute", attribute_name=name)


def _noise_spots(g, coords, scale, detail, threshold, top, amount):
    """Noise above a per-sample threshold (a Value node), ramped to 1 at `top` and scaled by `amount`."""
    noise = g.node("ShaderNodeTexNoise", in_Scale=scale, in_Detail=detail)
    g.link(coords, "Object", noise, "Vector")
    mask = g.node("ShaderNodeMapRange", clamp=True)
    g.link(noise, "Fac", mask, "Value")
    g.link(threshold, "Value", mask, "From Min")
    mask.inputs["From Max"].default_value = top
    return g.math("MULTIPLY", (mask, "Result"), (amount, 0))


def _new_material(name):
    mat = bpy.data.materials.new(name)
    return mat, Graph.empty(mat)


def _smoothstep_mask(g, source, lo_name, hi_name):
    """1 where source >= hi, 0 where source <= lo (lo/hi from parameter nodes)."""
    n = g.node("ShaderNodeMapRange", interpolation_type="SMOOTHSTEP", clamp=True)
    g.link(source[0], source[1], n, "Value")
    g.link(g.params[lo_name], "Value", n, "From Min")
    g.link(g.params[hi_name], "Value", n, "From Max")
    return n


def build_skin() -> tuple[bpy.types.Material, Graph]:
    mat, g = _new_material("skin")
    coords = g.node("ShaderNodeTexCoord")
    for name, default in (("subsurface", 0.2), ("subsurface_scale", 0.005), ("roughness", 0.45),
                          ("specular", 0.5), ("pores", 0.2), ("pore_scale", 1000.0), ("freckles", 0.0),
                          ("blemishes", 0.0), ("stubble", 0.0), ("makeup", 0.0), ("wrinkles", 0.5),
                          ("brow_density", 0.8), ("brow_lo", 0.7), ("brow_hi", 0.8), ("lash_lo", 0.9),
                          ("lash_hi", 0.95), ("freckle_lo", 0.75), ("blemish_lo", 0.8), ("hair", 0.0)):
        g.value(name, default)
    for name in ("base_color", "lip_tint", "eye_shadow", "hair_color"):
        g.rgb(name)
    base = g.params["base_color"]
    bump = _skin_bump(g, coords)
    color = _skin_tone_variation(g, coords, base)
    color = _skin_marks(g, coords, color)
    color, lips = _skin_makeup(g, color)
    color, strand_noise = _facial_hair(g, coords, color)
    color, hair = _scalp_hair(g, color, strand_noise)
    _skin_surface(g, coords, color, lips, hair, bump)
    return mat, g


def _skin_bump(g: Graph, coords):
    # pores: fine noise as bump
    pores = g.node("ShaderNodeTexNoise", in_Detail=1.0)
    g.link(coords, "Object", pores, "Vector")
    g.link(g.params["pore_scale"], "Value", pores, "Scale")
    # expression wrinkles: noisy bands only where the expression squeezes the skin (compression > 0.15)
    wave = g.node("ShaderNodeTexWave", wave_type="BANDS", bands_direction="Y", in_Scale=90.0, in_Distortion=12.0,
                  in_Detail=0.0)
    g.link(coords, "Object", wave, "Vector")
    wrinkle = g.attribute("wrinkle")
    squeeze = g.math("MULTIPLY", (g.math("SUBTRACT", (wrinkle, "Fac"), 0.15), 0), 1.5, clamp=True)
    wrinkle_height = g.math("MULTIPLY", (wave, "Fac"), (squeeze, 0))
    wrinkle_height = g.math("MULTIPLY", (wrinkle_height, 0), (g.params["wrinkles"], 0))
    # one bump for both (a bump node evaluates its height input three times: chaining two costs double)
    pore_height = g.math("MULTIPLY", (pores, "Fac"), (g.params["pores"], 0))
    height = g.math("MULTIPLY_ADD", (pore_height, 0), 0.4)
    g.tree.links.new(g.math("MULTIPLY", (wrinkle_height, 0), 0.6).outputs[0], height.inputs[2])
    bump = g.node("ShaderNodeBump", in_Distance=0.001, in_Strength=1.0)
    g.link(height, "Value", bump, "Height")
    return bump


def _multiplied(g: Graph, color, rgb):
    """A node whose Result_Color is color (node, output) times the constant `rgb`."""
    n = g.node("ShaderNodeMix", data_type="RGBA", blend_type="MULTIPLY", clamp_factor=True)
    g.socket(n.inputs, "Factor_Float").default_value = 1.0
    g.link(color[0], color[1], n, "A_Color")
    g.socket(n.inputs, "B_Color").default_value = (*rgb, 1.0)
    return n


def _tint(g: Graph, color, factor, rgb):
    """color (node, output) multiplied by the constant `rgb` where `factor` (node, output) is 1."""
    return g.mix_color(factor, color, (_multiplied(g, color, rgb), "Result_Color"))


def _skin_tone_variation(g: Graph, coords, base):
    # the low-frequency colour of a real face: redder cheeks and nose, darker eye sockets, a faint mottling
    color = _tint(g, (base, "Color"), (g.attribute("cheek"), "Fac"), (1.0, 0.78, 0.76))
    color = _tint(g, (color, "Result_Color"), (g.attribute("nose"), "Fac"), (1.0, 0.85, 0.82))
    socket = g.math("MULTIPLY", (g.attribute("socket"), "Fac"), 0.8)
    color = _tint(g, (color, "Result_Color"), (socket, "Value"), (0.82, 0.78, 0.8))
    mottle = g.node("ShaderNodeTexNoise", in_Scale=30.0, in_Detail=0.0)
    g.link(coords, "Object", mottle, "Vector")
    mottle_amount = g.math("MULTIPLY", (mottle, "Fac"), 0.5)
    return _tint(g, (color, "Result_Color"), (mottle_amount, "Value"), (0.9, 0.8, 0.8))


def _skin_marks(g: Graph, coords, color):
    # freckles and blemishes: thresholded noise darkening / reddening the skin's own colour
    freck_amount = _noise_spots(g, coords, 350.0, 1.0, g.params["freckle_lo"], 0.85, g.params["freckles"])
    color = _tint(g, (color, "Result_Color"), (freck_amount, "Value"), (0.65, 0.5, 0.4))
    # blemishes: small, soft, a deeper red of the skin under them rather than a painted-on colour
    blem_amount = _noise_spots(g, coords, 160.0, 0.0, g.params["blemish_lo"], 0.95, g.params["blemishes"])
    blem_amount = g.math("MULTIPLY", (blem_amount, 0), 0.6)
    return _tint(g, (color, "Result_Color"), (blem_amount, "Value"), (0.85, 0.55, 0.55))


def _skin_makeup(g: Graph, color):
    # natural lip colour, then makeup (lip tint, eye shadow, blush)
    lips = g.attribute("lips")
    color = _tint(g, (color, "Result_Color"), (lips, "Fac"), (0.85, 0.55, 0.55))
    lip_makeup = g.math("MULTIPLY", (lips, "Fac"), (g.params["makeup"], 0))
    color = g.mix_color((lip_makeup, "Value"), (color, "Result_Color"), (g.params["lip_tint"], "Color"))
    lid = g.attribute("lid")
    lid_makeup = g.math("MULTIPLY", (lid, "Fac"), (g.params["makeup"], 0))
    lid_makeup = g.math("MULTIPLY", (lid_makeup, 0), 0.8)
    color = g.mix_color((lid_makeup, "Value"), (color, "Result_Color"), (g.params["eye_shadow"], "Color"))
    cheek = g.attribute("cheek")
    blush = g.math("MULTIPLY", (cheek, "Fac"), (g.params["makeup"], 0))
    blush = g.math("MULTIPLY", (blush, 0), 0.25)
    color = g.mix_color((blush, "Value"), (color, "Result_Color"), (g.params["lip_tint"], "Color"))
    return color, lips


def _facial_hair(g: Graph, coords, color):
    # hair: brows (anisotropic noise strands), lash roots (dark line on the upper lid margin), stubble
    strands = g.node("ShaderNodeMapping", in_Scale=(1.0, 8.0, 1.0))
    g.link(coords, "Object", strands, "Vector")
    strand_noise = g.node("ShaderNodeTexNoise", in_Scale=400.0, in_Detail=1.0)
    g.link(strands, "Vector", strand_noise, "Vector")
    brow = g.attribute("brow_near")
    brow_band = _smoothstep_mask(g, (brow, "Fac"), "brow_lo", "brow_hi")
    brow_mask = g.math("MULTIPLY", (brow_band, "Result"), (strand_noise, "Fac"))
    brow_mask = g.math("MULTIPLY", (brow_mask, 0), 1.8, clamp=True)
    # thinner and thicker stretches along the brow instead of one even band
    clumps = g.node("ShaderNodeTexNoise", in_Scale=70.0, in_Detail=0.0)
    g.link(coords, "Object", clumps, "Vector")
    clumps = g.math("MULTIPLY_ADD", (clumps, "Fac"), 1.2)
    clumps.inputs[2].default_value = 0.2
    brow_mask = g.math("MULTIPLY", (brow_mask, 0), (clumps, 0), clamp=True)
    brow_mask = g.math("MULTIPLY", (brow_mask, 0), (g.params["brow_density"], 0))
    # brows in the hair colour, but never lighter than the skin under them would make them (blond or grey hair on
    # dark skin drew light bands)
    hair_dark = _multiplied(g, (g.params["hair_color"], "Color"), (0.65, 0.65, 0.65))  # brows look darker
    skin_dark = _multiplied(g, (g.params["base_color"], "Color"), (0.45, 0.4, 0.38))
    brow_color = g.node("ShaderNodeMix", data_type="RGBA", blend_type="DARKEN", clamp_factor=True)
    g.socket(brow_color.inputs, "Factor_Float").default_value = 1.0
    g.link(hair_dark, "Result_Color", brow_color, "A_Color")
    g.link(skin_dark, "Result_Color", brow_color, "B_Color")
    color = g.mix_color((brow_mask, "Value"), (color, "Result_Color"), (brow_color, "Result_Color"))
    lash = g.attribute("lash_near")
    lash_mask = _smoothstep_mask(g, (lash, "Fac"), "lash_lo", "lash_hi")
    lash_color = g.rgb("lash_color", (0.02, 0.015, 0.01))
    color = g.mix_color((lash_mask, "Result"), (color, "Result_Color"), (lash_color, "Color"))
    stubble_noise = g.node("ShaderNodeTexNoise", in_Scale=2500.0, in_Detail=0.0)
    g.link(coords, "Object", stubble_noise, "Vector")
    stubble_dots = g.node("ShaderNodeMapRange", clamp=True, in_From_Min=0.45, in_From_Max=0.65)
    g.link(stubble_noise, "Fac", stubble_dots, "Value")
    beard = g.attribute("beard")
    stubble = g.math("MULTIPLY", (beard, "Fac"), (g.params["stubble"], 0))
    stubble_shadow = g.math("MULTIPLY", (stubble, 0), 0.35)
    color = g.mix_color((stubble_shadow, "Value"), (color, "Result_Color"), (g.params["hair_color"], "Color"))
    stubble = g.math("MULTIPLY", (stubble, 0), (stubble_dots, "Result"))
    color = g.mix_color((stubble, "Value"), (color, "Result_Color"), (g.params["hair_color"], "Color"))
    return color, strand_noise


def _scalp_hair(g: Graph, color, strand_noise):
    # close-cropped scalp hair: hair colour with a fine strand texture above the hairline
    scalp = g.attribute("scalp")
    scalp_band = g.node("ShaderNodeMapRange", interpolation_type="SMOOTHSTEP", clamp=True, in_From_Min=0.35,
                        in_From_Max=0.75)
    g.link(scalp, "Fac", scalp_band, "Value")
    hair = g.math("MULTIPLY", (scalp_band, "Result"), (g.params["hair"], 0))
    hair_texture = g.node("ShaderNodeMix", data_type="RGBA", blend_type="MULTIPLY", clamp_factor=True)
    g.link(g.params["hair_color"], "Color", hair_texture, "A_Color")
    g.link(strand_noise, "Fac", hair_texture, "B_Color")  # grey strands: the noise's colour output is rainbow
    g.socket(hair_texture.inputs, "Factor_Float").default_value = 0.6
    color = g.mix_color((hair, "Value"), (color, "Result_Color"), (hair_texture, "Result_Color"))
    return color, hair


def _skin_surface(g: Graph, coords, color, lips, hair, bump) -> None:
    # Burley subsurface: about a third cheaper than random walk on CPU, and at 256 px the difference is invisible
    bsdf = g.node("ShaderNodeBsdfPrincipled", subsurface_method="BURLEY", in_Subsurface_Radius=(1.0, 0.35, 0.2))
    g.link(color, "Result_Color", bsdf, "Base Color")
    g.link(g.params["subsurface"], "Value", bsdf, "Subsurface Weight")
    g.link(g.params["subsurface_scale"], "Value", bsdf, "Subsurface Scale")
    # oilier and drier patches (about 3 cm across), then the lips glossier
    patches = g.node("ShaderNodeTexNoise", in_Scale=35.0, in_Detail=0.0)
    g.link(coords, "Object", patches, "Vector")
    rough = g.math("MULTIPLY_ADD", (patches, "Fac"), 0.5)
    g.tree.links.new(g.params["roughness"].outputs[0], rough.inputs[2])
    rough = g.math("SUBTRACT", (rough, 0), 0.25)
    rough = g.math("SUBTRACT", (rough, 0), (lips, "Fac"))  # lips are glossier
    rough = g.math("ADD", (rough, 0), (g.math("MULTIPLY", (hair, 0), 0.4), 0))  # hair is matte
    g.link(rough, "Value", bsdf, "Roughness")
    g.link(g.params["specular"], "Value", bsdf, "Specular IOR Level")
    g.link(bump, "Normal", bsdf, "Normal")
    # the inside of the head seen through the open mouth: dark, reddish throat
    throat = g.node("ShaderNodeBsdfDiffuse", in_Color=(0.05, 0.01, 0.01, 1.0))
    geometry = g.node("ShaderNodeNewGeometry")
    mix = g.node("ShaderNodeMixShader")
    g.tree.links.new(geometry.outputs["Backfacing"], mix.inputs[0])
    g.tree.links.new(bsdf.outputs[0], mix.inputs[1])
    g.tree.links.new(throat.outputs[0], mix.inputs[2])
    out = g.node("ShaderNodeOutputMaterial")
    g.tree.links.new(mix.outputs[0], out.inputs["Surface"])


def apply_skin(g: Graph, p: SampleParams) -> None:
    s = p.skin
    g.set("base_color", s.base_color)
    for name in ("subsurface", "subsurface_scale", "roughness", "specular", "pores", "pore_scale", "freckles",
                 "blemishes", "stubble", "makeup", "wrinkles", "brow_density"):
        g.set(name, getattr(s, name))
    g.set("lip_tint", s.lip_tint)
    g.set("eye_shadow", s.eye_shadow)
    g.set("hair_color", s.hair_color)
    # brow_near is 1 on the brow line and falls to 0 at 2 cm: a thicker brow starts lower
    g.set("brow_lo", 1.0 - 0.30 * s.brow_thickness)
    g.set("brow_hi", 1.0 - 0.18 * s.brow_thickness)
    # the lash roots: a dark line along the upper lid margin (the strands themselves are geometry)
    g.set("lash_lo", 1.0 - 0.05 * s.lash_length)
    g.set("lash_hi", 1.0 - 0.025 * s.lash_length)
    g.set("freckle_lo", 0.75 - 0.12 * s.freckles)
    g.set("blemish_lo", 0.8 - 0.1 * s.blemishes)
    g.set("hair", p.body.hair)


def build_eye() -> tuple[bpy.types.Material, Graph]:
    mat, g = _new_material("eye")
    for name, default in (("iris_radius", 0.48), ("pupil_radius", 0.4)):
        g.value(name, default)
    g.rgb("iris_color", (0.3, 0.2, 0.1))
    g.rgb("sclera", (0.9, 0.85, 0.8))
    local = g.attribute("eye_local")
    xyz = g.node("ShaderNodeSeparateXYZ")
    g.link(local, "Vector", xyz, "Vector")
    x2 = g.math("MULTIPLY", (xyz, "X"), (xyz, "X"))
    y2 = g.math("MULTIPLY", (xyz, "Y"), (xyz, "Y"))
    rho = g.math("SQRT", (g.math("ADD", (x2, 0), (y2, 0)), 0))
    front = g.math("GREATER_THAN", (xyz, "Z"), 0.0)
    rel = g.math("DIVIDE", (rho, 0), (g.params["iris_radius"], 0))  # 1 at the limbus
    iris = g.math("MULTIPLY", (g.math("LESS_THAN", (rel, 0), 1.0), 0), (front, 0))
    pupil = g.math("MULTIPLY", (g.math("LESS_THAN", (rel, 0), (g.params["pupil_radius"], 0)), 0), (front, 0))
    fibres = g.node("ShaderNodeTexNoise", in_Scale=30.0, in_Detail=2.0)
    g.link(local, "Vector", fibres, "Vector")
    shade = g.math("MULTIPLY_ADD", (fibres, "Fac"), 1.2)
    shade.inputs[2].default_value = 0.3
    ring = g.math("MULTIPLY", (g.math("SUBTRACT", (rel, 0), 0.8), 0), 5.0, clamp=True)  # dark limbal ring
    darken = g.math("MULTIPLY_ADD", (ring, 0), -0.6)
    darken.inputs[2].default_value = 1.0
    shade = g.math("MULTIPLY", (shade, 0), (darken, 0))
    iris_col = g.node("ShaderNodeMix", data_type="RGBA", blend_type="MULTIPLY", clamp_factor=True)
    g.socket(iris_col.inputs, "Factor_Float").default_value = 1.0
    g.link(g.params["iris_color"], "Color", iris_col, "A_Color")
    comb = g.node("ShaderNodeCombineColor")
    for i in range(3):
        g.tree.links.new(shade.outputs[0], comb.inputs[i])
    g.link(comb, "Color", iris_col, "B_Color")
    color = g.mix_color((iris, "Value"), (g.params["sclera"], "Color"), (iris_col, "Result_Color"))
    black = g.rgb("pupil_color", (0.005, 0.005, 0.005))
    color = g.mix_color((pupil, "Value"), (color, "Result_Color"), (black, "Color"))
    bsdf = g.node("ShaderNodeBsdfPrincipled", in_Roughness=0.35, **{"in_Coat Weight": 1.0, "in_Coat Roughness": 0.02})
    g.link(color, "Result_Color", bsdf, "Base Color")
    out = g.node("ShaderNodeOutputMaterial")
    g.tree.links.new(bsdf.outputs[0], out.inputs["Surface"])
    return mat, g


def apply_eye(g: Graph, p: SampleParams) -> None:
    g.set("iris_color", p.eyes.iris_color)
    g.set("sclera", p.eyes.sclera_tint)
    g.set("iris_radius", p.eyes.iris_radius)
    g.set("pupil_radius", p.eyes.pupil_radius)


def build_plain(name, color=(0.8, 0.8, 0.8), roughness=0.4, subsurface=0.0, transmission=0.0,
                metallic=0.0) -> tuple[bpy.types.Material, Graph]:
    mat, g = _new_material(name)
    g.rgb("color", color)
    g.value("roughness", roughness)
    g.value("metallic", metallic)
    g.value("transmission", transmission)
    bsdf = g.node("ShaderNodeBsdfPrincipled", subsurface_method="BURLEY", **{"in_Subsurface Weight": subsurface,
                                                 "in_Subsurface Scale": 0.002})
    g.link(g.params["color"], "Color", bsdf, "Base Color")
    g.link(g.params["roughness"], "Value", bsdf, "Roughness")
    g.link(g.params["metallic"], "Value", bsdf, "Metallic")
    g.link(g.params["transmission"], "Value", bsdf, "Transmission Weight")
    out = g.node("ShaderNodeOutputMaterial")
    g.tree.links.new(bsdf.outputs[0], out.inputs["Surface"])
    return mat, g
