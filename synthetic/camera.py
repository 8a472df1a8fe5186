"""Pinhole camera maths in the label frame (the FLAME frame: metres, Y up, face towards +Z).

Extrinsics follow OpenCV: x_cam = R @ x_world + t, camera looks down +z, image x right, y down.
Pixel (0, 0) is the top-left corner of the top-left pixel, so the centre of that pixel is (0.5, 0.5).
"""
from __future__ import annotations

import dataclasses

import numpy as np

MIN_DISTANCE = 0.3  # metres from the face centre: closer puts the camera inside the hair/nose volume


@dataclasses.dataclass
class CameraPose:
    K: np.ndarray  # (3, 3) intrinsics in pixels
    R: np.ndarray  # (3, 3) world -> camera rotation
    t: np.ndarray  # (3,) world -> camera translation
    focal_mm: float
    sensor_mm: float
    width: int
    height: int

    @property
    def centre(self) -> np.ndarray:
        return -self.R.T @ self.t


def rotation_x(deg):
    a = np.radians(deg)
    return np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])


def rotation_y(deg):
    a = np.radians(deg)
    return np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])


def rotation_z(deg):
    a = np.radians(deg)
    return np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])


def head_rotation(yaw_deg: float, pitch_deg: float, roll_deg: float) -> np.ndarray:
    """Yaw turns the face towards +X (the character's left), pitch > 0 lifts the chin, roll about +Z."""
    return rotation_y(yaw_deg) @ rotation_x(-pitch_deg) @ rotation_z(roll_deg)


FRONTAL = np.diag([1.0, -1.0, -1.0])  # world -> camera rotation of a camera on +Z looking at the face


def pose_in_camera(head_rot: np.ndarray, cam_R: np.ndarray) -> np.ndarray:
    """(yaw, pitch, roll) in degrees of the head as this camera sees it, in the convention of
    `head_rotation`: equal to the world pose for a camera straight in front of the face."""
    from scipy.spatial.transform import Rotation

    relative = FRONTAL.T @ cam_R @ head_rot
    yaw, neg_pitch, roll = Rotation.from_matrix(relative).as_euler("YXZ", degrees=True)
    return np.array([yaw, -neg_pitch, roll])


def project(points: np.ndarray, cam: CameraPose) -> tuple[np.ndarray, np.ndarray]:
    """(N, 2) pixel coordinates and (N,) depths along the optical axis."""
    pc = points @ cam.R.T + cam.t
    z = pc[:, 2]
    uv = pc[:, :2] / np.maximum(z[:, None], 1e-9) * np.array([cam.K[0, 0], cam.K[1, 1]]) + cam.K[:2, 2]
    return uv, z


def look_at(centre: np.ndarray, target: np.ndarray, roll_deg: float, up=(0.0, 1.0, 0.0)) -> np.ndarray:
    """World -> camera rotation for a camera at `centre` looking at `target`."""
    z = target - centre
    z = z / np.linalg.norm(z)
    x = np.cross(z, np.asarray(up, float))
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    rot = np.stack([x, y, z])
    return rotation_z(roll_deg).T @ rot if roll_deg else rot


def frame_face(face_points: np.ndarray, focal_mm: float, sensor_mm: float, size: int, fraction: float,
               offset: tuple[float, float], azimuth_deg: float, elevation_deg: float,
               roll_deg: float) -> CameraPose:
    """Place a camera so the face points' box spans `fraction` of the image (larger side), shifted by
    `offset` (-1..1 of the free margin). If that needs the camera closer than MIN_DISTANCE the focal
    length grows instead."""
    lo, hi = face_points.min(0), face_points.max(0)
    target = (lo + hi) / 2
    direction = rotation_y(azimuth_deg) @ rotation_x(-elevation_deg) @ np.array([0.0, 0.0, 1.0])
    focal = focal_mm
    distance = 1.0

    def make(distance, focal, shift=np.zeros(2)):
        centre = target + direction * distance
        rot = look_at(centre, target, roll_deg)
        centre = centre + rot.T @ np.array([shift[0], shift[1], 0.0])
        f_px = focal / sensor_mm * size
        k = np.array([[f_px, 0, size / 2], [0, f_px, size / 2], [0, 0, 1.0]])
        return CameraPose(K=k, R=rot, t=-rot @ centre, focal_mm=float(focal), sensor_mm=sensor_mm,
                          width=size, height=size)

    def extent(cam):
        uv, _ = project(face_points, cam)
        return (uv.max(0) - uv.min(0)).max()

    shift = np.zeros(2)
    for _ in range(12):
        cam = make(distance, focal, shift)
        ratio = extent(cam) / (fraction * size)
        if distance * ratio >= MIN_DISTANCE:
            distance *= ratio
        else:  # too close: stay at the minimum distance and zoom instead
            distance = MIN_DISTANCE
            focal /= ratio
        cam = make(distance, focal, shift)
        uv, z = project(face_points, cam)
        box_lo, box_hi = uv.min(0), uv.max(0)
        margin = np.maximum(size - (box_hi - box_lo), 0) / 2
        want = np.asarray(offset) * margin  # desired offset of the box centre from the image centre, pixels
        now = (box_lo + box_hi) / 2 - size / 2
        # moving the camera by d along its x axis moves the image by -f d / z
        shift = shift - (want - now) * np.median(z) / cam.K[0, 0]
    return make(distance, focal, shift)


def to_blender_camera_matrix(cam: CameraPose) -> np.ndarray:
    """4x4 camera-to-world matrix in the label frame with Blender's camera axes (looks down -z, y up)."""
    m = np.eye(4)
    m[:3, :3] = cam.R.T @ np.diag([1.0, -1.0, -1.0])
    m[:3, 3] = cam.centre
    return m
