"""The upper body under the head (plain numpy, label frame): shoulders, chest and the tops of the arms in a shirt,
and a crew collar hiding the neck cut. Built once from the head asset's neck opening; per sample only the body's
matrix changes (width, build, and part of the head's rotation)."""
from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from .occluders import capped_rings_faces, merge

# Body dimensions in metres, relative to the centre of the neck opening (before the per-sample width and build).
# FLAME's neck opening is about 22 cm wide and its head about 15 cm (ear to ear): shoulders of 2.5-3 head widths.
SHOULDER_HALF_WIDTH = 0.205  # the outside of the upper arms (bideltoid breadth / 2)
CHEST_HALF_DEPTH = 0.115
NECK_INSET = 0.015  # the body's neck edge lies this far inside the opening, so the collar always covers it
SHOULDER_TOP = -0.05  # height of the top of the shoulders (and of the back), below the centre of the opening
FRONT_DROP = 0.02  # from the front of the neck to the top of the chest
SHOULDER_ROUND = (0.04, 0.05)  # horizontal, vertical radius of the rounding from the shoulder top to the arm
BODY_BOTTOM = -1.3  # far below the frame even when the face covers a tenth of it
# (height below the shoulder top, half-width factor, half-depth factor): the deltoids, then the chest between
# the arms, a narrower waist and the hips
SIDE_PROFILE = np.array([(0.0, 1.0, 1.0), (0.06, 0.95, 1.03), (0.16, 0.8, 1.05), (0.3, 0.77, 1.0),
                         (0.5, 0.7, 0.92), (0.8, 0.75, 0.92), (-BODY_BOTTOM, 0.75, 0.92)])
# the arms of someone sitting: upper arms hanging a little outwards, forearms forward (towards the camera)
# (centre, radius) of the shoulder joint, elbow and wrist, for the left arm (+X), relative to the opening's centre
ARM_JOINTS = (((0.16, SHOULDER_TOP - 0.05, -0.01), 0.048), ((0.172, -0.36, 0.0), 0.04), ((0.15, -0.4, 0.27), 0.032))
OUTLINE_POWER = 2.4  # superellipse exponent of the body's cross-section (2 = ellipse; more is boxier)


def _superellipse(theta, half_x, half_z, power):
    c, s = np.cos(theta), np.sin(theta)
    return half_x * np.sign(c) * np.abs(c) ** (2 / power), half_z * np.sign(s) * np.abs(s) ** (2 / power)


def upper_body(ring: np.ndarray, n_around: int = 48, n_top: int = 7, n_round: int = 7, n_side: int = 14):
    """(verts, faces) of a closed upper body relative to the centre of the neck opening (rest-pose vertices of its
    boundary `ring`): a flat cap inside the neck, the trapezius sloping down to rounded shoulders, then the chest and
    arms going straight down out of frame."""
    centre = ring.mean(0)
    r = ring - centre
    neck_half = np.abs(r[:, [0, 2]]).max(0) - NECK_INSET
    slope = np.polyfit(r[:, 2], r[:, 1], 1)  # the opening is lower at the front
    theta = np.linspace(0, 2 * np.pi, n_around, endpoint=False)
    nx, nz = neck_half[0] * np.cos(theta), neck_half[1] * np.sin(theta)
    ny = np.polyval(slope, nz)
    cx, cz = _superellipse(theta, SHOULDER_HALF_WIDTH, CHEST_HALF_DEPTH, OUTLINE_POWER)
    reach = np.hypot(cx - nx, cz - nz)
    direction = np.stack([cx - nx, cz - nz]) / reach
    # one shoulder line all round (the opening is higher at the back), only the top of the chest a little higher
    drop = ny - np.minimum(ny - FRONT_DROP, SHOULDER_TOP)
    round_h = np.minimum(SHOULDER_ROUND[0], 0.7 * reach)
    round_v = SHOULDER_ROUND[1] * np.ones_like(theta)
    flat = reach - round_h
    meridian = []  # per sample along the meridian: (horizontal distance from the neck edge, height) per angle
    for t in np.linspace(0, 1, n_top):
        meridian.append((flat * t, ny - drop * t ** 0.6))  # steep by the neck, flatter towards the shoulder
    top = ny - drop
    for a in np.linspace(0, np.pi / 2, n_round)[1:]:
        meridian.append((flat + round_h * np.sin(a), top - round_v * (1 - np.cos(a))))
    rings = [np.stack([nx + direction[0] * d, y, nz + direction[1] * d], 1) for d, y in meridian]
    shoulder = top - round_v
    for t in np.linspace(0, 1, n_side)[1:] ** 1.6:  # denser near the shoulders, where the shape changes
        below = t * (shoulder - BODY_BOTTOM)
        w = np.interp(below, SIDE_PROFILE[:, 0], SIDE_PROFILE[:, 1])
        dz = np.interp(below, SIDE_PROFILE[:, 0], SIDE_PROFILE[:, 2])
        rings.append(np.stack([cx * w, shoulder - below, cz * dz], 1))
    cap_top = np.array([[0.0, np.polyval(slope, 0.0), 0.0]])
    cap_bottom = np.array([[0.0, BODY_BOTTOM, 0.0]])
    verts = np.concatenate([cap_top, *rings, cap_bottom])
    tris = capped_rings_faces(len(rings), n_around)
    arms = []
    for side in (1.0, -1.0):
        joints = [(np.array(c) * [side, 1.0, 1.0], radius) for c, radius in ARM_JOINTS]
        arms += [_capsule(*joints[k], *joints[k + 1]) for k in range(len(joints) - 1)]
    return merge((verts.astype(np.float32), tris.astype(np.int32)), *arms)


def _capsule(a, ra, b, rb, n_around=16, n_along=6, n_cap=4):
    """A closed tapered tube from sphere (a, ra) to sphere (b, rb) with rounded ends."""
    axis = b - a
    length = np.linalg.norm(axis)
    axis = axis / length
    u = np.cross(axis, [0.0, 0.0, 1.0] if abs(axis[2]) < 0.9 else [1.0, 0.0, 0.0])
    u /= np.linalg.norm(u)
    w = np.cross(axis, u)
    phi = np.linspace(0, 2 * np.pi, n_around, endpoint=False)
    around = np.cos(phi)[:, None] * u + np.sin(phi)[:, None] * w
    profile = [(-ra * np.cos(t), ra * np.sin(t)) for t in np.linspace(0, np.pi / 2, n_cap + 1)[1:]]
    profile += [(length * t, ra + (rb - ra) * t) for t in np.linspace(0, 1, n_along)[1:-1]]
    profile += [(length + rb * np.sin(t), rb * np.cos(t)) for t in np.linspace(0, np.pi / 2, n_cap + 1)[:-1]]
    rings = [a + axis * s + around * r for s, r in profile]
    verts = np.concatenate([[a - axis * ra], *rings, [b + axis * rb]])
    return verts.astype(np.float32), capped_rings_faces(len(rings), n_around)


COLLAR_MARGIN = 0.008  # metres outside the neck opening (identities differ in neck size)
COLLAR_ABOVE = 0.018  # metres the collar rises above the opening's slanted plane
COLLAR_BELOW = 0.10  # metres it reaches down into the shoulders
COLLAR_INNER_INSET = 0.02  # metres inside the opening its top reaches (into the neck, which hides it)


def collar(ring: np.ndarray, n: int = 40) -> tuple[np.ndarray, np.ndarray]:
    """A crew collar around the neck opening (rest-pose vertices of its boundary `ring`), as an elliptic tube that
    follows the opening's slant, relative to the ring's centre: hides the neck cut where it meets the shoulders."""
    centre = ring.mean(0)
    r = ring - centre
    half = np.abs(r[:, [0, 2]]).max(0) + COLLAR_MARGIN
    slope = np.polyfit(r[:, 2], r[:, 1], 1)
    a = np.linspace(0, 2 * np.pi, n, endpoint=False)
    x, z = half[0] * np.cos(a), half[1] * np.sin(a)
    y = np.polyval(slope, z)
    top = np.stack([x, y + COLLAR_ABOVE, z], 1)
    bottom = np.stack([x, y - COLLAR_BELOW, z], 1)
    # the collar's top closes onto the neck, so the gap between collar and neck does not show as a dark line
    inner_half = np.maximum(half - COLLAR_MARGIN - COLLAR_INNER_INSET, 0.02)
    inner = np.stack([inner_half[0] * np.cos(a), y + COLLAR_ABOVE, inner_half[1] * np.sin(a)], 1)
    verts = np.concatenate([top, bottom, inner]).astype(np.float32)
    i = np.arange(n)
    j = (i + 1) % n
    faces = np.concatenate([np.stack([i, j, j + n, i + n], 1), np.stack([i + 2 * n, j + 2 * n, j, i], 1)])
    return verts, faces


BODY_FOLLOWS_HEAD = 0.5  # fraction of the head's rotation the body takes (a body does not roll with the head)


def body_rotation(head_rotation: np.ndarray) -> np.ndarray:
    return Rotation.from_rotvec(Rotation.from_matrix(head_rotation).as_rotvec() * BODY_FOLLOWS_HEAD).as_matrix()


def body_matrix(head_rotation: np.ndarray, neck_ring_centre: np.ndarray, width: float, build: float) -> np.ndarray:
    """The body's 4x4 matrix (label frame): at the posed neck opening, scaled by `width` across and `build` front
    to back, turned by part of the head's rotation."""
    m = np.eye(4)
    m[:3, :3] = body_rotation(head_rotation) @ np.diag([width, 1.0, build])
    m[:3, 3] = neck_ring_centre
    return m


def collar_matrix(head_rotation: np.ndarray, neck_ring_centre: np.ndarray) -> np.ndarray:
    """The collar is rigid with the head."""
    m = np.eye(4)
    m[:3, :3], m[:3, 3] = head_rotation, neck_ring_centre
    return m
