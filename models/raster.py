"""A small vectorised z-buffer rasteriser (numpy), for previews, contact sheets and landmark fitting.

Cycles renders the datasets; this exists so bpy-free code (the head builder, quality checks) can see
a mesh. It returns, per pixel, the triangle and barycentric coordinates of the nearest surface.
"""
from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass
class Camera:
    """Pinhole camera looking down -Z of its own frame (OpenGL convention)."""

    focal_px: float
    width: int
    height: int
    rotation: np.ndarray  # (3, 3) world -> camera
    translation: np.ndarray  # (3,)

    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Pixel coordinates (x right, y down) and depth (positive in front)."""
        cam = points @ self.rotation.T + self.translation
        depth = -cam[..., 2]
        x = self.focal_px * cam[..., 0] / depth + self.width / 2
        y = -self.focal_px * cam[..., 1] / depth + self.height / 2
        return np.stack([x, y], -1), depth


def look_at_camera(target, distance, yaw_deg=0.0, pitch_deg=0.0, fov_deg=20.0, size=(256, 256)) -> Camera:
    """Camera orbiting `target`: yaw turns around +Y (positive shows the character's left), pitch tilts."""
    yaw, pitch = np.radians(yaw_deg), np.radians(pitch_deg)
    ry = np.array([[np.cos(yaw), 0, np.sin(yaw)], [0, 1, 0], [-np.sin(yaw), 0, np.cos(yaw)]])
    rx = np.array([[1, 0, 0], [0, np.cos(pitch), -np.sin(pitch)], [0, np.sin(pitch), np.cos(pitch)]])
    cam_to_world = ry @ rx
    eye = np.asarray(target, float) + cam_to_world @ np.array([0, 0, distance])
    rotation = cam_to_world.T
    width, height = size
    focal = 0.5 * width / np.tan(np.radians(fov_deg) / 2)
    return Camera(focal, width, height, rotation, -rotation @ eye)


@dataclasses.dataclass
class Fragments:
    triangle: np.ndarray  # (H, W) int, -1 where empty
    bary: np.ndarray  # (H, W, 3)
    depth: np.ndarray  # (H, W), inf where empty


def rasterize(vertices: np.ndarray, faces: np.ndarray, camera: Camera) -> Fragments:
    w, h = camera.width, camera.height
    xy, depth = camera.project(vertices.astype(np.float64))
    tri_xy, tri_z = xy[faces], depth[faces]
    front = (tri_z > 1e-6).all(1)
    lo = np.floor(tri_xy.min(1)).astype(int)
    hi = np.ceil(tri_xy.max(1)).astype(int)
    lo = np.clip(lo, 0, [w - 1, h - 1])
    hi = np.clip(hi, 0, [w - 1, h - 1])
    size = (hi - lo + 1)
    keep = np.where(front & (tri_xy.max(1) >= 0).all(1) & (tri_xy.min(1)[:, 0] < w) & (tri_xy.min(1)[:, 1] < h))[0]
    counts = size[keep, 0] * size[keep, 1]
    tri_id = np.repeat(keep, counts)
    local = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    bw = size[tri_id, 0]
    px = lo[tri_id, 0] + local % bw
    py = lo[tri_id, 1] + local // bw
    p = np.stack([px + 0.5, py + 0.5], 1)
    a, b, c = tri_xy[tri_id, 0], tri_xy[tri_id, 1], tri_xy[tri_id, 2]
    v0, v1, v2 = b - a, c - a, p - a
    den = v0[:, 0] * v1[:, 1] - v1[:, 0] * v0[:, 1]
    ok = np.abs(den) > 1e-12
    den = np.where(ok, den, 1.0)
    l1 = (v2[:, 0] * v1[:, 1] - v1[:, 0] * v2[:, 1]) / den
    l2 = (v0[:, 0] * v2[:, 1] - v2[:, 0] * v0[:, 1]) / den
    l0 = 1 - l1 - l2
    inside = ok & (l0 >= -1e-9) & (l1 >= -1e-9) & (l2 >= -1e-9)
    tri_id, px, py = tri_id[inside], px[inside], py[inside]
    screen_bary = np.stack([l0, l1, l2], 1)[inside]
    # perspective-correct barycentrics
    inv_z = 1.0 / tri_z[tri_id]
    persp = screen_bary * inv_z
    z = 1.0 / persp.sum(1)
    persp = persp * z[:, None]
    pixel = py * w + px
    order = np.lexsort((z, pixel))
    pixel, first = np.unique(pixel[order], return_index=True)
    win = order[first]
    triangle = np.full(h * w, -1)
    bary = np.zeros((h * w, 3))
    zbuf = np.full(h * w, np.inf)
    triangle[pixel], bary[pixel], zbuf[pixel] = tri_id[win], persp[win], z[win]
    return Fragments(triangle.reshape(h, w), bary.reshape(h, w, 3), zbuf.reshape(h, w))


def shade(vertices: np.ndarray, faces: np.ndarray, camera: Camera, colors: np.ndarray,
          background=(0.16, 0.16, 0.18), light_dir=(0.3, 0.4, 1.0)) -> np.ndarray:
    """Lambert + a little ambient and rim, per-vertex colours (V, 3) in [0, 1]; returns uint8 (H, W, 3)."""
    from .geometry import vertex_normals

    frags = rasterize(vertices, faces, camera)
    normals = vertex_normals(vertices.astype(np.float64), faces)
    mask = frags.triangle >= 0
    tri = frags.triangle[mask]
    b = frags.bary[mask]
    n = np.einsum("pk,pkc->pc", b, normals[faces[tri]])
    n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
    n_cam = n @ camera.rotation.T
    light = np.asarray(light_dir, float) / np.linalg.norm(light_dir)
    diffuse = np.clip(n_cam @ light, 0, 1)
    fill = np.clip(n_cam @ np.array([-0.6, -0.1, 0.8]) / np.linalg.norm([-0.6, -0.1, 0.8]), 0, 1)
    col = np.einsum("pk,pkc->pc", b, colors[faces[tri]])
    lit = col * (0.22 + 0.7 * diffuse[:, None] + 0.18 * fill[:, None])
    image = np.empty((camera.height, camera.width, 3))
    image[:] = background
    image[mask] = lit
    return (np.clip(image, 0, 1) ** (1 / 1.4) * 255).astype(np.uint8)
