"""Everything random about one sample, drawn from (seed, index) alone.

Each sample has its own generator seeded by (seed, index), so a sample does not depend on which shard,
worker or resumed run draws it: shards are disjoint slices of the same dataset and a resumed run
re-draws exactly what the killed run would have.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from models.expressions import ExpressionOptions, sample_one, weights_to_gaze

# Skin base colours (linear-ish sRGB 0..1) spanning Fitzpatrick I..VI; a sample interpolates between
# neighbours and adds a small hue/saturation jitter.
FITZPATRICK_RGB = np.array([
    (0.93, 0.78, 0.70),  # I
    (0.87, 0.69, 0.58),  # II
    (0.78, 0.58, 0.45),  # III
    (0.63, 0.44, 0.31),  # IV
    (0.45, 0.29, 0.19),  # V
    (0.26, 0.16, 0.11),  # VI
])
IRIS_RGB = np.array([
    (0.25, 0.14, 0.06),  # brown
    (0.12, 0.07, 0.03),  # dark brown
    (0.35, 0.25, 0.10),  # hazel
    (0.25, 0.35, 0.18),  # green
    (0.22, 0.35, 0.55),  # blue
    (0.38, 0.42, 0.45),  # grey
    (0.45, 0.30, 0.12),  # amber
])
HAIR_RGB = np.array([(0.03, 0.02, 0.015), (0.12, 0.07, 0.03), (0.30, 0.18, 0.08), (0.55, 0.40, 0.22),
                     (0.40, 0.13, 0.05), (0.45, 0.45, 0.45)])
LIGHTING_KINDS = ("hdri", "sky", "gradient")
OCCLUDER_KINDS = ("glasses", "hand", "shape")


@dataclasses.dataclass
class Camera:
    focal_mm: float
    sensor_mm: float
    face_fraction: float  # face box size / image size the framing aims for
    offset: tuple[float, float]  # face centre offset in units of the free margin, -1..1
    azimuth_deg: float  # camera orbit around the head on top of the head pose
    elevation_deg: float
    roll_deg: float


@dataclasses.dataclass
class Light:
    kind: str  # "POINT" or "AREA"
    azimuth_deg: float
    elevation_deg: float
    distance: float  # metres from the head
    power_w: float
    color: tuple[float, float, float]


@dataclasses.dataclass
class Lighting:
    kind: str  # one of LIGHTING_KINDS
    hdri: str  # environment map name (key of the HDRI table) when kind == "hdri", else ""
    rotation_deg: float  # world rotation about the vertical axis
    exposure_ev: float
    sun_elevation_deg: float
    sun_azimuth_deg: float
    gradient_top: tuple[float, float, float]
    gradient_bottom: tuple[float, float, float]
    extra_lights: list[Light]


@dataclasses.dataclass
class Skin:
    fitzpatrick: int  # 1..6
    base_color: tuple[float, float, float]
    subsurface: float
    subsurface_scale: float
    roughness: float
    specular: float
    pores: float  # bump strength
    pore_scale: float
    freckles: float  # density 0..1
    blemishes: float
    stubble: float  # 0 = none
    makeup: float  # 0 = none
    lip_tint: tuple[float, float, float]
    eye_shadow: tuple[float, float, float]
    wrinkles: float  # bump strength of expression wrinkles
    hair_color: tuple[float, float, float]  # brows, lashes, stubble
    brow_density: float
    brow_thickness: float
    lash_length: float


@dataclasses.dataclass
class Eyes:
    iris_color: tuple[float, float, float]
    iris_radius: float  # fraction of the eyeball radius
    pupil_radius: float  # fraction of the iris radius
    sclera_tint: tuple[float, float, float]


@dataclasses.dataclass
class Mouth:
    teeth_color: tuple[float, float, float]
    gum_color: tuple[float, float, float]


@dataclasses.dataclass
class Occluder:
    kind: str  # "" (none) or one of OCCLUDER_KINDS
    shape: str  # for "shape": "sphere", "cube", "cylinder", "torus"
    position: tuple[float, float]  # in the face box, -1..1 (x right, y up)
    depth: float  # metres in front of the face
    size: float  # metres
    rotation_deg: tuple[float, float, float]
    color: tuple[float, float, float]
    frame_color: tuple[float, float, float]  # glasses frames
    tinted: bool  # sunglasses


@dataclasses.dataclass
class Body:
    shirt_color: tuple[float, float, float]
    shirt_roughness: float
    width: float  # scale of the shoulders across
    hair: float  # 0 = bald, else opacity of close-cropped hair on the scalp (in the hair colour)
    build: float  # scale of the body front to back


@dataclasses.dataclass
class SampleParams:
    index: int
    seed: int
    identity: np.ndarray  # (K,) float32
    expression: np.ndarray  # (52,) float32 ARKit weights
    expression_kind: str
    head_pose_deg: np.ndarray  # (3,) yaw, pitch, roll
    gaze_deg: np.ndarray  # (2 eyes [left, right], 2 [yaw, pitch])
    camera: Camera
    lighting: Lighting
    skin: Skin
    eyes: Eyes
    mouth: Mouth
    occluder: Occluder
    render_seed: int
    body: Body


def _rgb(rng, table, jitter=0.04):
    a = rng.integers(len(table))
    return tuple(float(x) for x in np.clip(table[a] * rng.uniform(1 - jitter * 3, 1 + jitter * 3), 0, 1))


def _color(rng, lo=0.0, hi=1.0):
    return tuple(float(x) for x in rng.uniform(lo, hi, 3))


GRADIENT_MAX_SATURATION = 0.35  # HSV saturation: a fully saturated world painted the whole face one colour


def _muted_color(rng, lo, hi, max_saturation):
    """A random colour with its HSV saturation redrawn in [0, max_saturation], brightness (max channel) kept."""
    c = np.array(_color(rng, lo, hi))
    top = c.max()
    saturation = (top - c.min()) / top if top > 0 else 0.0
    target = rng.uniform(0.0, max_saturation)
    if saturation > 0:
        c = top - (top - c) * (target / saturation)
    return tuple(float(x) for x in c)


def _kelvin_rgb(kelvin: float) -> tuple[float, float, float]:
    """Rough blackbody tint, normalised to max 1 (enough for random light colours)."""
    t = kelvin / 100.0
    r = 1.0 if t <= 66 else np.clip(1.292936 * (t - 60) ** -0.1332047, 0, 1)
    g = np.clip(0.3900816 * np.log(t) - 0.6318414, 0, 1) if t <= 66 else np.clip(1.1298909 * (t - 60) ** -0.0755148, 0, 1)
    b = 1.0 if t >= 66 else (0.0 if t <= 19 else np.clip(0.5432068 * np.log(t - 10) - 1.1962541, 0, 1))
    return float(r), float(g), float(b)


def sample_params(seed: int, index: int, n_identity: int, hdris: list[str],
                  expression_options: ExpressionOptions | None = None, occluders: bool = True) -> SampleParams:
    """Draw sample `index` of the dataset with `seed`. `hdris` is the sorted list of environment map names."""
    return sample_from(np.random.SeedSequence([int(seed), int(index)]), seed, index, n_identity, hdris,
                       expression_options, occluders)


def sample_from(ss: np.random.SeedSequence, seed: int, index: int, n_identity: int, hdris: list[str],
                expression_options: ExpressionOptions | None = None, occluders: bool = True) -> SampleParams:
    """`sample_params` drawn from the seed sequence `ss` (another generator's own streams, e.g. the benchmark's)."""
    # Separate streams per concern: adding a field to one does not reshuffle the others.
    r_id, r_expr, r_pose, r_cam, r_light, r_skin, r_occ, r_misc, r_body = (np.random.default_rng(s)
                                                                             for s in ss.spawn(9))

    identity = np.clip(r_id.standard_normal(n_identity), -2.5, 2.5).astype(np.float32)
    identity *= np.float32(r_id.uniform(0.6, 1.2))

    weights, kind = sample_one(r_expr, expression_options or ExpressionOptions())
    gaze = weights_to_gaze(weights)[0]
    pose = _head_pose(r_pose)
    camera = _camera(r_cam)
    lighting = _lighting(r_light, hdris)
    skin = _skin(r_skin)
    eyes, mouth = _eyes_and_mouth(r_misc)
    occluder = _occluder(r_occ, occluders)
    return SampleParams(index=int(index), seed=int(seed), identity=identity, expression=weights,
                        expression_kind=kind, head_pose_deg=pose, gaze_deg=gaze, camera=camera,
                        lighting=lighting, skin=skin, eyes=eyes, mouth=mouth, occluder=occluder,
                        render_seed=int(r_misc.integers(0, 2**31 - 1)),
                        body=_body(r_body))


def _body(r_body: np.random.Generator) -> Body:
    """Shirt, body size (shoulders 2.5-3 head widths) and scalp hair."""
    shirt_color, shirt_roughness = _color(r_body, 0.02, 0.9), float(r_body.uniform(0.6, 1.0))
    width = float(r_body.uniform(0.88, 1.12))
    hair = float(r_body.uniform(0.75, 1.0)) if r_body.random() < 0.6 else 0.0
    build = float(np.clip(width * r_body.uniform(0.88, 1.12), 0.85, 1.2))  # broader people tend to be deeper too
    return Body(shirt_color=shirt_color, shirt_roughness=shirt_roughness, width=width, hair=hair, build=build)


def _head_pose(r_pose: np.random.Generator) -> np.ndarray:
    """Head pose (yaw, pitch, roll) in degrees: mostly near-frontal with long tails to the required extremes."""
    def spread(limit):
        v = r_pose.normal(0, limit / 2.2) if r_pose.random() < 0.75 else r_pose.uniform(-limit, limit)
        return float(np.clip(v, -limit, limit))

    pose = np.array([spread(75.0), spread(35.0), spread(25.0)], np.float32)
    return pose


P_SMALL_FACE = 0.3  # webcam framing: the face covers 10-30 % of the frame (MediaPipe needs a crop there)


def _camera(r_cam: np.random.Generator) -> Camera:
    """Lens, framing and the camera's small rotation about the face."""
    small = r_cam.random() < P_SMALL_FACE
    camera = Camera(
        focal_mm=float(r_cam.uniform(30.0, 110.0)),
        sensor_mm=36.0,
        face_fraction=float(r_cam.uniform(0.1, 0.3) if small else r_cam.uniform(0.3, 0.9)),
        offset=(float(r_cam.uniform(-0.8, 0.8)), float(r_cam.uniform(-0.8, 0.8))),
        azimuth_deg=float(r_cam.uniform(-10, 10)),
        elevation_deg=float(r_cam.uniform(-10, 15)),
        roll_deg=float(r_cam.normal(0, 3)),
    )
    return camera


def _lighting(r_light: np.random.Generator, hdris: list[str]) -> Lighting:
    """An environment map (or sky, or gradient) and up to two extra lights."""
    u = r_light.random()
    light_kind = "hdri" if u < 0.7 or not hdris else ("sky" if u < 0.85 else "gradient")
    extra = []
    for _ in range(int(r_light.choice([0, 0, 1, 1, 2]))):
        extra.append(Light(kind=str(r_light.choice(["POINT", "AREA"])),
                           azimuth_deg=float(r_light.uniform(-180, 180)),
                           elevation_deg=float(r_light.uniform(-20, 70)),
                           distance=float(r_light.uniform(0.6, 2.0)),
                           power_w=float(r_light.uniform(5, 60)),
                           color=_kelvin_rgb(float(r_light.uniform(2500, 9000)))))
    lighting = Lighting(
        kind=light_kind,
        hdri=str(hdris[r_light.integers(len(hdris))]) if hdris and light_kind == "hdri" else "",
        rotation_deg=float(r_light.uniform(0, 360)),
        exposure_ev=float(r_light.uniform(-1.0, 1.0)),
        sun_elevation_deg=float(r_light.uniform(3, 70)),
        sun_azimuth_deg=float(r_light.uniform(0, 360)),
        gradient_top=_muted_color(r_light, 0.05, 1.0, GRADIENT_MAX_SATURATION),
        gradient_bottom=_muted_color(r_light, 0.0, 0.6, GRADIENT_MAX_SATURATION),
        extra_lights=extra,
    )
    return lighting


def _skin(r_skin: np.random.Generator) -> Skin:
    """Skin tone (Fitzpatrick I-VI, interpolated), its shading, marks, make-up, stubble and hair colour."""
    fitz = float(r_skin.uniform(0, 5))
    lo = int(np.floor(fitz))
    hi = min(lo + 1, 5)
    base = FITZPATRICK_RGB[lo] * (1 - (fitz - lo)) + FITZPATRICK_RGB[hi] * (fitz - lo)
    base = np.clip(base * r_skin.uniform(0.92, 1.08, 3), 0, 1)
    makeup = float(r_skin.uniform(0.3, 1.0)) if r_skin.random() < 0.2 else 0.0
    stubble = float(r_skin.uniform(0.3, 1.0)) if r_skin.random() < 0.25 else 0.0
    skin = Skin(
        fitzpatrick=int(round(fitz)) + 1,
        base_color=tuple(float(x) for x in base),
        subsurface=float(r_skin.uniform(0.05, 0.3)),
        subsurface_scale=float(r_skin.uniform(0.002, 0.008)),
        # broader, weaker highlights on darker skin (its low albedo made a glossy highlight read as plastic)
        roughness=float(r_skin.uniform(0.42, 0.65) + 0.08 * fitz / 5),
        specular=float(r_skin.uniform(0.25, 0.5) * (1 - 0.3 * fitz / 5)),
        pores=float(r_skin.uniform(0.05, 0.35)),
        pore_scale=float(r_skin.uniform(600, 1500)),
        freckles=float(r_skin.uniform(0.2, 1.0)) if r_skin.random() < 0.25 else 0.0,
        blemishes=float(r_skin.uniform(0.1, 1.0)) if r_skin.random() < 0.3 else 0.0,
        stubble=stubble,
        makeup=makeup,
        lip_tint=(float(r_skin.uniform(0.35, 0.8)), float(r_skin.uniform(0.02, 0.15)), float(r_skin.uniform(0.05, 0.25))),
        eye_shadow=_color(r_skin, 0.05, 0.6),
        wrinkles=float(r_skin.uniform(0.2, 1.0)),
        hair_color=_rgb(r_skin, HAIR_RGB),
        brow_density=float(r_skin.uniform(0.5, 1.0)),
        brow_thickness=float(r_skin.uniform(0.6, 1.4)),
        lash_length=float(r_skin.uniform(0.5, 1.0)),
    )
    return skin


def _eyes_and_mouth(r_misc: np.random.Generator) -> tuple[Eyes, Mouth]:
    """Iris, pupil and sclera; teeth and gums."""
    eyes = Eyes(iris_color=_rgb(r_misc, IRIS_RGB), iris_radius=float(r_misc.uniform(0.44, 0.52)),
                pupil_radius=float(r_misc.uniform(0.25, 0.55)),
                sclera_tint=(float(r_misc.uniform(0.8, 0.95)), float(r_misc.uniform(0.75, 0.9)),
                             float(r_misc.uniform(0.72, 0.88))))
    mouth = Mouth(teeth_color=(float(r_misc.uniform(0.75, 0.92)), float(r_misc.uniform(0.70, 0.86)),
                               float(r_misc.uniform(0.58, 0.75))),
                  gum_color=(float(r_misc.uniform(0.5, 0.7)), float(r_misc.uniform(0.16, 0.26)),
                             float(r_misc.uniform(0.16, 0.26))))
    return eyes, mouth


def _occluder(r_occ: np.random.Generator, occluders: bool) -> Occluder:
    """The occluder (none, glasses, a hand or a shape); every field is drawn even when there is none."""
    occ_kind = ""
    if occluders and r_occ.random() < 0.3:
        occ_kind = str(r_occ.choice(OCCLUDER_KINDS, p=[0.45, 0.3, 0.25]))
    occluder = Occluder(
        kind=occ_kind,
        shape=str(r_occ.choice(["sphere", "cube", "cylinder", "torus"])),
        position=(float(r_occ.uniform(-0.9, 0.9)), float(r_occ.uniform(-0.9, 0.9))),
        depth=float(r_occ.uniform(0.03, 0.12)),
        size=float(r_occ.uniform(0.03, 0.09)),
        rotation_deg=tuple(float(x) for x in r_occ.uniform(-180, 180, 3)),
        color=_color(r_occ),
        frame_color=_color(r_occ, 0.0, 0.5),
        tinted=bool(r_occ.random() < 0.3),
    )
    return occluder


def params_to_json(p: SampleParams) -> dict:
    """The non-array parameters as plain JSON (the arrays are stored as arrays in the label)."""
    def plain(x):
        if dataclasses.is_dataclass(x):
            return {f.name: plain(getattr(x, f.name)) for f in dataclasses.fields(x)}
        if isinstance(x, (list, tuple)):
            return [plain(v) for v in x]
        if isinstance(x, np.ndarray):
            return x.tolist()
        return x

    return {name: plain(getattr(p, name)) for name in
            ("index", "seed", "expression_kind", "camera", "lighting", "skin", "eyes", "mouth", "occluder",
             "body", "render_seed")}
