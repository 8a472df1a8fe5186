"""The landmark backend's fit: the rig's MediaPipe-478 points (through the head asset's correspondence)
projected by a pinhole camera onto MediaPipe's 2D points.

1. Identity: one FLAME identity for the whole clip, fitted jointly over frames spread through it
   (alternating with those frames' poses and expressions), with a Gaussian prior.
2. Per frame: ARKit weights in [0, 1] and the head's rotation and translation (bounded least squares,
   warm-started from the previous frame, a small temporal prior); the exclusive pairs are enforced by
   capping the weaker shape and solving again.
3. Gaze: each iris centre's camera ray meets the fitted eyeball sphere; the eye rotation takes the rest
   iris direction onto it. The eyeLook* weights follow from the gaze (they are not fitted to the lids).

Residuals are in millimetres at the face (pixels times depth / focal), so the priors read as mm.
"""
from __future__ import annotations

import dataclasses

import numpy as np
from scipy.optimize import least_squares, lsq_linear
from scipy.spatial.transform import Rotation

from ..expressions import GAZE_SHAPES, gaze_to_weights
from ..vocab.arkit import ARKIT_NAMES
from ..vocab import mediapipe478 as mp
from . import landmark_weights as lw
from ..blas_threads import blas_threads
from .camera import DEFAULT_FOV_DEG, FRONTAL, project
from .solve import PAIR_BOUND, cap_violations, pair_indices


@dataclasses.dataclass
class FitOptions:
    fov_deg: float = DEFAULT_FOV_DEG  # the camera's field of view across the frame's wider side
    identity_frames: int = 16  # frames the identity is fitted on
    identity_rounds: int = 2
    offset_shrink: float = 2.0  # pseudo-frames shrinking the per-landmark offsets towards 0
    identity_prior: float = 2.0  # mm per unit of each identity coefficient
    weight_prior: float = 0.3  # mm per unit weight (ridge towards neutral)
    temporal_prior: float = 1.5  # mm per unit weight change from the previous frame
    pose_temporal: float = 0.0  # mm per radian / mm of pose change (0: the pose follows the landmarks freely)
    pair_bound: float = PAIR_BOUND
    close_bound: float = 30.0  # mm per unit of mouthClose above jawOpen (a corrective of jawOpen)
    max_iterations: int = 12  # Gauss-Newton steps per frame
    tolerance: float = 1e-4  # relative decrease of the cost that ends a frame's solve
    blink_hold: float = 0.5  # above this blink weight the gaze keeps its previous value


class LandmarkRig:
    """The 478 landmark positions as a linear function of identity and expression: L0 + Lid b + Lexp w."""

    def __init__(self, model):
        asset = model.asset
        tri = asset.faces[asset.mp478_faces]  # (478, 3) vertex ids
        bary = asset.mp478_bary.astype(np.float64)

        def at(x):  # (V, 3, ...) -> (478, 3, ...)
            return np.einsum("lk,lk...->l...", bary, x[tri])

        self._at = at
        self.model = model
        self.l0 = at(model.template)
        self.lid = at(model.identity_basis)  # (478, 3, K)
        self.lexp = at(np.moveaxis(model.blendshapes, 0, -1))  # (478, 3, S) on the template
        self.shape_names = model.shape_names
        gaze = set(GAZE_SHAPES)
        self.fitted = np.array([i for i, n in enumerate(self.shape_names) if n not in gaze])
        fitted_names = [self.shape_names[i] for i in self.fitted]
        self.pairs = pair_indices(fitted_names)
        self.close_open = (fitted_names.index("mouthClose"), fitted_names.index("jawOpen"))
        self.weight = lw.fit_weights()
        self.use = np.flatnonzero(self.weight > 0)
        self.sqrt_w = np.sqrt(self.weight[self.use])
        self.eye_joints = [asset.joint_names.index("eye_left"), asset.joint_names.index("eye_right")]
        self.neck_joint = asset.joint_names.index("neck")
        self.iris_centre = [mp.IRIS_CENTRE["left"], mp.IRIS_CENTRE["right"]]  # MediaPipe's left = the character's +X

    def neutral_points(self, beta):
        return self.l0 + self.lid @ beta

    def expression_points(self, beta) -> np.ndarray:
        """(478, 3, S): the landmarks' motion under each ARKit shape of identity `beta` (HeadModel.shapes)."""
        return self._at(np.moveaxis(self.model.shapes(beta), 0, -1))

    def joints(self, beta):
        return self.model.joints(beta)[0]


def _rot(rv):
    return Rotation.from_rotvec(rv).as_matrix()


def _rot_jac(rv, h=1e-6):
    """(3, 3, 3): dR/drv_j stacked on the first axis (central differences)."""
    out = np.empty((3, 3, 3))
    for j in range(3):
        e = np.zeros(3)
        e[j] = h
        out[j] = (_rot(rv + e) - _rot(rv - e)) / (2 * h)
    return out


def _proj_jac(x, k):
    """d(pixel)/d(camera point) for points (N, 3): (N, 2, 3)."""
    f = np.array([k[0, 0], k[1, 1]])
    z = x[:, 2]
    j = np.zeros((len(x), 2, 3))
    j[:, 0, 0] = f[0] / z
    j[:, 1, 1] = f[1] / z
    j[:, :, 2] = -f * x[:, :2] / z[:, None] ** 2
    return j


def initial_pose(points3d, pixels, k):
    """Rigid pose (rotvec, t) of head-frame points seen at `pixels` (cv2.solvePnP, EPnP then refined)."""
    import cv2

    ok, rvec, tvec = cv2.solvePnP(points3d.astype(np.float64), pixels.astype(np.float64), k, None,
                                  flags=cv2.SOLVEPNP_EPNP)
    if ok:
        ok, rvec, tvec = cv2.solvePnP(points3d, pixels.astype(np.float64), k, None, rvec, tvec,
                                      useExtrinsicGuess=True, flags=cv2.SOLVEPNP_ITERATIVE)
    if not ok or tvec[2, 0] <= 0:
        rvec = Rotation.from_matrix(FRONTAL).as_rotvec()[:, None]
        tvec = np.array([[0.0], [0.0], [0.5]])
    return rvec.ravel(), tvec.ravel()


class FrameFitter:
    """Per-frame fit of weights (the fitted shapes) and pose for a fixed identity."""

    def __init__(self, rig: LandmarkRig, beta, k, opts: FitOptions, offset=None):
        self.rig, self.k, self.opts = rig, k, opts
        use = rig.use
        self.base = rig.neutral_points(beta)[use] + (0 if offset is None else offset[use])  # (N, 3)
        self.lexp = rig.expression_points(beta)[use][:, :, rig.fitted]  # (N, 3, S')

    def _parts(self, p):
        s = self.lexp.shape[2]
        return p[:s], p[s:s + 3], p[s + 3:]

    def residual_and_jac(self, p, obs, scale, prev):
        w, rv, t = self._parts(p)
        local = self.base + self.lexp @ w
        r = _rot(rv)
        x = local @ r.T + t
        sw = self.rig.sqrt_w[:, None] * scale
        res_lm = ((project(x, self.k) - obs) * sw).ravel()
        jp = _proj_jac(x, self.k) * sw[:, :, None]  # (N, 2, 3)
        dr = _rot_jac(rv)  # (3, 3, 3)
        j_w = (jp @ r) @ self.lexp
        j_r = jp @ np.einsum("jbc,nc->nbj", dr, local)
        j_t = jp
        jac_lm = np.concatenate([j_w, j_r, j_t], axis=2).reshape(-1, len(p))
        o = self.opts
        n = len(p)
        s = self.lexp.shape[2]
        reg = [o.weight_prior * w]
        jreg = [np.hstack([o.weight_prior * np.eye(s), np.zeros((s, 6))])]
        close, jaw = self.rig.close_open
        excess = w[close] - w[jaw]
        row = np.zeros((1, n))
        if excess > 0:
            row[0, close], row[0, jaw] = o.close_bound, -o.close_bound
        reg.append([o.close_bound * max(excess, 0.0)])
        jreg.append(row)
        if prev is not None:
            reg.append(o.temporal_prior * (w - prev[:s]))
            jreg.append(np.hstack([o.temporal_prior * np.eye(s), np.zeros((s, 6))]))
            if o.pose_temporal > 0:
                reg.append(o.pose_temporal * (p[s:] - prev[s:]) * np.r_[np.full(3, 50.0), np.full(3, 1000.0)])
                jreg.append(np.hstack([np.zeros((6, s)), o.pose_temporal *
                                       np.diag(np.r_[np.full(3, 50.0), np.full(3, 1000.0)])]))
        return np.concatenate([res_lm] + reg), np.vstack([jac_lm] + jreg), n

    def fit(self, obs_all, p0, prev=None):
        """obs_all (478, 2) px; p0 the start [w, rotvec, t]; returns (p, RMS landmark residual mm)."""
        obs = obs_all[self.rig.use]
        s = self.lexp.shape[2]
        scale = 1000.0 * p0[-1] / self.k[0, 0]  # mm per pixel at the face's depth
        upper = np.r_[np.ones(s), np.full(3, np.pi), np.full(3, np.inf)]
        lower = np.r_[np.zeros(s), np.full(3, -np.pi), np.full(3, -np.inf)]
        lower[-1] = 0.05
        p = np.clip(p0, lower, upper)

        def fun_jac(q):
            r, j, _ = self.residual_and_jac(q, obs, scale, prev)
            return r, j

        for _ in range(4):
            p, res = bounded_gauss_newton(fun_jac, p, lower, upper, self.opts.max_iterations, self.opts.tolerance)
            if not cap_violations(p[:s], upper, self.rig.pairs, self.opts.pair_bound):
                break
            p = np.clip(p, lower, upper)
        n_lm = len(obs)
        rms = float(np.sqrt(np.mean(res[:2 * n_lm].reshape(n_lm, 2) ** 2 / (self.rig.sqrt_w[:, None] ** 2)) * 2))
        return p, rms


def _identity_and_poses(rig, landmarks, k, opts, beta, poses, expr, offset):
    """Identity and the frames' poses jointly (expressions `expr` (F, N, 3) and `offset` held)."""
    use = rig.use
    n_id, n_f = len(beta), len(landmarks)
    scale = np.array([1000.0 * p[-1] / k[0, 0] for p in poses])
    sw = rig.sqrt_w[:, None]
    lid = rig.lid[use]
    base = rig.l0[use] + offset[use]
    prior = opts.identity_prior * np.sqrt(n_f)

    def fun_jac(q):
        b, pose = q[:n_id], q[n_id:].reshape(n_f, 6)
        res, rows = [], []
        local_id = base + lid @ b
        for f in range(n_f):
            local = local_id + expr[f]
            r = _rot(pose[f, :3])
            x = local @ r.T + pose[f, 3:]
            wgt = sw * scale[f]
            res.append(((project(x, k) - landmarks[f][use]) * wgt).ravel())
            jp = _proj_jac(x, k) * wgt[:, :, None]
            j = np.zeros((len(use), 2, len(q)))
            j[:, :, :n_id] = (jp @ r) @ lid
            j[:, :, n_id + 6 * f:n_id + 6 * f + 3] = jp @ np.einsum("jbc,nc->nbj", _rot_jac(pose[f, :3]), local)
            j[:, :, n_id + 6 * f + 3:n_id + 6 * f + 6] = jp
            rows.append(j.reshape(-1, len(q)))
        res.append(prior * b)
        jb = np.zeros((n_id, len(q)))
        jb[:, :n_id] = prior * np.eye(n_id)
        rows.append(jb)
        return np.concatenate(res), np.vstack(rows)

    cache = {}

    def fun(q):
        cache["q"], (cache["r"], cache["j"]) = q.copy(), fun_jac(q)
        return cache["r"]

    def jac(q):
        if "q" not in cache or not np.array_equal(cache["q"], q):
            fun(q)
        return cache["j"]

    q0 = np.r_[beta, np.concatenate([p[-6:] for p in poses])]
    sol = least_squares(fun, q0, jac=jac, method="trf", max_nfev=15, x_scale="jac")
    rms = float(np.sqrt(np.mean(sol.fun[:-n_id] ** 2)))
    return sol.x[:n_id], list(sol.x[n_id:].reshape(n_f, 6)), rms


def _landmark_offsets(rig, landmarks, k, beta, poses, expr, shrink_frames: float):
    """Per-landmark offsets (478, 3) in the head frame: the mean of each point's residual over the frames, lifted
    to the face's depth and rotated into the head frame (how this face's features sit relative to the
    correspondence), shrunk towards 0 by `shrink_frames` pseudo-frames."""
    use = rig.use
    total = np.zeros((len(use), 3))
    base = rig.neutral_points(beta)[use]
    for f, obs in enumerate(landmarks):
        r, t = _rot(poses[f][:3]), poses[f][3:]
        x = (base + expr[f]) @ r.T + t
        err = obs[use] - project(x, k)
        d = np.zeros((len(use), 3))
        d[:, :2] = err * x[:, 2:3] / np.array([k[0, 0], k[1, 1]])
        total += d @ r
    offset = np.zeros((len(rig.l0), 3))
    offset[use] = total / (len(landmarks) + shrink_frames)
    return offset


def neutral_frames(landmarks, usable, count: int) -> np.ndarray:
    """The `count` usable frames nearest a neutral face: mouth closed, eyes as open as usual (the clip's
    75th percentile of eye openness); the identity is fitted on them, taken as neutral at first."""
    o = lw.openness(landmarks[usable])
    eyes = o[:, 1:].mean(1)
    score = o[:, 0] + np.abs(eyes - np.percentile(eyes, 75))
    return np.sort(usable[np.argsort(score)[:count]])


def bounded_gauss_newton(fun_jac, p, lower, upper, max_iter: int, tol: float):
    """Levenberg-Marquardt with box bounds: each step is a bounded linear least-squares problem (scipy's BVLS,
    an exact active set), so weights resting on 0 or 1 cost nothing; the problem is nearly linear in them."""
    r, j = fun_jac(p)
    cost = r @ r
    damping = 1e-3
    for _ in range(max_iter):
        scale = np.sqrt(np.maximum(np.einsum("ij,ij->j", j, j), 1e-12))
        a = np.vstack([j, np.sqrt(damping) * np.diag(scale)])
        b = -np.r_[r, np.zeros(len(p))]
        q, rr = np.linalg.qr(a)  # the same minimiser on the small square system: BVLS's inner solves stay cheap
        step = lsq_linear(rr, q.T @ b, bounds=(lower - p, upper - p), method="bvls").x
        trial = np.clip(p + step, lower, upper)
        r_new, j_new = fun_jac(trial)
        cost_new = r_new @ r_new
        if cost_new < cost:
            converged = cost - cost_new < tol * cost
            p, r, j, cost = trial, r_new, j_new, cost_new
            damping = max(damping / 4, 1e-7)
            if converged:
                break
        else:
            damping *= 8
            if damping > 1e4:
                break
    return p, r


def fit_identity(rig: LandmarkRig, landmarks, k, opts: FitOptions, log=None):
    """One identity for the clip from frames (F, 478, 2) spread through it: (beta (K,), offsets (478, 3)).

    Round 1 takes the frames as neutral (identity, poses, then per-landmark offsets: what the identity basis
    and the correspondence leave between this face and the rig); later rounds fit each frame's expression
    and refit the identity and offsets with the expressions held.
    """
    n_id = rig.lid.shape[2]
    beta = np.zeros(n_id)
    offset = np.zeros_like(rig.l0)
    use = rig.use
    n_f = len(landmarks)
    poses = []
    for f, obs in enumerate(landmarks):
        rv, t = initial_pose(rig.neutral_points(beta)[use], obs[use], k)
        poses.append(np.r_[rv, t])
    expr = np.zeros((n_f, len(use), 3))
    for rnd in range(opts.identity_rounds):
        if rnd > 0:
            fitter = FrameFitter(rig, beta, k, opts, offset)
            s = fitter.lexp.shape[2]
            w_all = []
            for f, obs in enumerate(landmarks):
                p = fitter.fit(obs, np.r_[np.zeros(s), poses[f]])[0]
                w_all.append(p[:s])
                poses[f] = p[s:]
            expr = np.einsum("nas,fs->fna", fitter.lexp, np.array(w_all))
        beta, poses, rms = _identity_and_poses(rig, landmarks, k, opts, beta, poses, expr, np.zeros_like(offset))
        offset = _landmark_offsets(rig, landmarks, k, beta, poses, expr, opts.offset_shrink)
        if log is not None:
            log(f"identity round {rnd + 1}: landmark RMS {rms:.2f} mm before the per-landmark offsets")
    return beta, offset


def gaze(rig: LandmarkRig, beta, rotvec, t, obs, k):
    """Per eye [left (+X), right] (yaw, pitch) in radians, head frame, from the iris centres' pixels."""
    neutral = rig.neutral_points(beta)
    joints = rig.joints(beta)
    r = _rot(rotvec)
    out = np.zeros((2, 2))
    k_inv = np.linalg.inv(k)
    for e, (joint, iris) in enumerate(zip(rig.eye_joints, rig.iris_centre)):
        centre_h = joints[joint]
        rest = neutral[iris] - centre_h
        radius = np.linalg.norm(rest)
        c = r @ centre_h + t
        d = k_inv @ np.r_[obs[iris], 1.0]
        d /= np.linalg.norm(d)
        along = d @ c
        disc = along ** 2 - (c @ c - radius ** 2)
        hit = (along - np.sqrt(disc)) * d if disc > 0 else along * d
        n_cam = hit - c
        n_head = r.T @ n_cam
        n_head /= np.linalg.norm(n_head)
        rest = rest / radius
        out[e, 0] = np.arctan2(n_head[0], n_head[2]) - np.arctan2(rest[0], rest[2])
        out[e, 1] = np.arctan2(n_head[1], np.hypot(n_head[0], n_head[2])) - np.arctan2(rest[1], np.hypot(rest[0], rest[2]))
    return out


def eye_matrices(yaw_pitch: np.ndarray) -> np.ndarray:
    """(T, 2, 2) yaw/pitch radians -> (T, 2, 3, 3) rotations Ry(yaw) Rx(-pitch) (pitch > 0 looks up)."""
    flat = yaw_pitch.reshape(-1, 2)
    m = Rotation.from_euler("YX", np.stack([flat[:, 0], -flat[:, 1]], 1)).as_matrix()
    return m.reshape(*yaw_pitch.shape[:-1], 3, 3)


def fit_clip(rig: LandmarkRig, track, opts: FitOptions, k, progress=None, cancel=None, log=None):
    """Per-frame arrays for a Track: weights (T, 52), head rotation in the head frame (T, 3, 3), neck
    translation (T, 3), gaze (T, 2, 2), residual (T,), identity."""
    with blas_threads(1):
        return _fit_clip(rig, track, opts, k, progress, cancel, log)


def _fit_clip(rig, track, opts, k, progress, cancel, log):
    from ..video.errors import Cancelled

    usable = np.flatnonzero(track.usable)
    pick = neutral_frames(track.landmarks, usable, opts.identity_frames)
    beta, offset = fit_identity(rig, track.landmarks[pick].astype(np.float64), k, opts, log)
    fitter = FrameFitter(rig, beta, k, opts, offset)
    s = fitter.lexp.shape[2]
    n = len(track)
    weights = np.zeros((n, len(ARKIT_NAMES)))
    rotation = np.tile(np.eye(3), (n, 1, 1))
    neck = np.zeros((n, 3))
    gaze_yp = np.zeros((n, 2, 2))
    residual = np.full(n, np.nan)
    neck_joint = rig.joints(beta)[rig.neck_joint]
    columns = np.array([ARKIT_NAMES.index(rig.shape_names[i]) for i in rig.fitted])
    blink = [ARKIT_NAMES.index("eyeBlinkLeft"), ARKIT_NAMES.index("eyeBlinkRight")]
    prev = None
    last_gaze = np.zeros((2, 2))
    for done, f in enumerate(usable):
        if cancel is not None and cancel():
            raise Cancelled(f"{track.source or 'clip'}: analysis cancelled at frame {track.frame_index[f]}; "
                            "run it again to redo it")
        obs = track.landmarks[f].astype(np.float64)
        if prev is None:
            rv, t = initial_pose(fitter.base, obs[rig.use], k)
            p0 = np.r_[np.zeros(s), rv, t]
        else:
            p0 = prev
        after_gap = done > 0 and f - usable[done - 1] > 1  # across a long gap the last frame is no prior
        p, rms = fitter.fit(obs, p0, None if after_gap else prev)
        prev = p
        w, rv, t = p[:s], p[s:s + 3], p[s + 3:]
        weights[f, columns] = w
        r_cam = _rot(rv)
        rotation[f] = FRONTAL.T @ r_cam
        neck[f] = FRONTAL.T @ (r_cam @ neck_joint + t)
        g = gaze(rig, beta, rv, t, obs, k)
        for e in range(2):
            if weights[f, blink[e]] < opts.blink_hold:
                last_gaze[e] = g[e]
        gaze_yp[f] = last_gaze
        residual[f] = rms
        if progress is not None:
            progress(done + 1, len(usable), "fitting")
    gaze_deg = np.degrees(gaze_yp)
    look = gaze_to_weights(gaze_deg[:, :, 0], gaze_deg[:, :, 1])
    for name in GAZE_SHAPES:
        weights[:, ARKIT_NAMES.index(name)] = look[:, ARKIT_NAMES.index(name)]
    translation = np.where(track.usable[:, None], neck - neck[usable].mean(0), 0.0)
    return weights, rotation, translation, gaze_yp, residual, beta

