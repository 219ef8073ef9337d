"""Segment the objects of one image: prompts per object, the model's candidate masks, a choice.

An :class:`ImageSession` speaks the same prompt vocabulary as a video
:class:`~sam2nb.Session` on a single frame (``frame_idx`` 0), so the same
:class:`~sam2nb.PromptEditor` (and its undo/redo) drives both. Every prompt change runs
sam2's ``SAM2ImagePredictor`` (the image embedding is computed once) and keeps its candidates.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from ..base.errors import PromptError, SessionError
from ..base.files import atomic_write
from ..media.video import to_rgb8
from ..model.names import cannot, video_only
from ..prompts.checks import (
    TrackedObject,
    check_box,
    check_mask,
    check_points,
    known_object,
    new_object,
    rename,
)
from ..prompts.log import (
    PROMPT_OPS,
    AddObject,
    Box,
    ClearFrame,
    Entry,
    FramePrompts,
    Mask,
    Points,
    PromptLog,
    RemoveObject,
    RenameObject,
    objects_in,
)
from ..storage.folders import check_folder_free
from ..storage.journal import Journal, has_journal, read_value
from ..storage.store import FrameResult, ResultStore
from ..storage.writer import JournalWriter
from .predict import ImagePrediction, segment_image


class ImageSession:
    """Objects, prompts and chosen masks on one image.

    Args:
        image: the image (any array :func:`sam2nb.to_rgb8` accepts).
        engine: from :func:`sam2nb.load` (None: the cached one).
        folder: keep the session in this folder as it happens (the image, every prompt and
            chosen mask); resume it with :func:`open_image_session`.

    Attributes:
        objects: ``{obj_id: TrackedObject}``.
        log: the prompt log (the video session's format, frame 0).
        candidates: ``{obj_id: ImagePrediction}``, the model's last answer per object.
        choice: ``{obj_id: index}`` of the chosen candidate.
        results: the chosen masks, in a :class:`~sam2nb.ResultStore` (frame 0).

    Example:
        >>> img = ImageSession(s2.read_image(photo), engine)  # photo: a picture file
        >>> img.add_object(name="disc")
        TrackedObject(obj_id=1, name='disc', color=(31, 119, 180))
        >>> img.add_points(0, 1, [(170, 210)], [1]).records[1].area > 0
        True
        >>> len(img.candidates[1].masks)  # one click: three candidates
        3
        >>> img.choose(1, 2).frame_idx  # the third candidate instead
        0
    """

    def __init__(self, image: Any, engine: Any = None, *, folder: Any = None):
        from ..model.engine import current

        self.image = to_rgb8(np.asarray(image), "image")
        self.engine = engine or current()
        if self.engine is None:
            raise SessionError('No model is loaded: call s2.load("tiny") first, or pass engine=.')
        if video_only(self.engine.name):
            raise SessionError(cannot(self.engine.name, "segmenting an image"))
        h, w = self.image.shape[:2]
        self.size = (w, h)
        from ..media.video import open_video

        self.video = open_video(self.image[None])  # one frame: exports treat it as a video
        self.objects: dict[int, TrackedObject] = {}
        self.log = PromptLog()
        self.candidates: dict[int, ImagePrediction] = {}
        self.choice: dict[int, int] = {}
        self.results = ResultStore(w, h)
        self._holder = object()  # the model's image features are ours while it holds this
        self.writer = JournalWriter()  # where every change goes as it happens (or nowhere)
        self.resumed: str | None = None  # what a resume brought back, in words
        self.moved_aside: Path | None = None
        if folder is not None:
            self.folder = folder

    # -- the folder --------------------------------------------------------------------------
    def _keep_in(self, folder: Any) -> Path:
        """Keep the session in ``folder`` from now on: the image, then every change at once.

        Setting :attr:`folder` does this.

        Example:
            >>> img = ImageSession(s2.read_image(photo), engine, folder=folder + "/img")
            >>> sorted(p.name for p in img.folder.iterdir())[:3]  # and the lock, while it lives
            ['.sam2nb.lock', 'image.png', 'results.sqlite']
        """
        import io

        from PIL import Image

        out = Path(folder).expanduser()
        if self.journal is not None:
            if self.folder == out:
                return out
            raise SessionError(f"This session is kept in {self.folder} already.")
        check_folder_free(out)
        out.mkdir(parents=True, exist_ok=True)
        buf = io.BytesIO()
        Image.fromarray(self.image).save(buf, "PNG")
        atomic_write(out / "image.png", buf.getvalue())
        db = out / "results.sqlite"
        self.results.save(db)
        old, self.results = self.results, ResultStore.open(db, spill=True)
        old.close()
        self.journal = Journal(self.results)
        with self.journal.transaction():
            self.journal.extend(self.log)
            self.journal.put("choice", self.choice)
            self.journal.put("meta", self._meta())
        atomic_write(out / "session.json", json.dumps(self._meta(), indent=1).encode())
        return out

    @property
    def journal(self) -> Journal | None:
        """The session's journal (None: kept in memory only, or taken over)."""
        return self.writer.journal

    @journal.setter
    def journal(self, j: Journal | None) -> None:
        self.writer.journal = j

    @property
    def folder(self) -> Path | None:
        """The folder the session is kept in as it happens (None: in memory only).

        Setting it keeps the session in that folder from now on (it must not hold one).
        """
        return self.writer.folder

    @folder.setter
    def folder(self, folder: Any) -> None:
        self._keep_in(folder)

    def _tx(self) -> Any:
        return self.writer.transaction()

    def _log(self, e: Any) -> None:
        self.writer.append(e)
        self.log.append(e)

    def _meta(self) -> dict:
        w, h = self.size
        return {
            "format": 2, "kind": "image", "model": self.engine.name,
            "model_label": self.engine.label, "untrained": self.engine.untrained,
            "image": "image.png", "size": [w, h], "image_sha1": image_digest(self.image),
            "objects": [o.to_json() for o in self.objects.values()],
        }  # fmt: skip

    def _keep_choice(self) -> None:
        if self.journal is not None:
            self.journal.put("choice", {str(k): v for k, v in self.choice.items()})

    # -- objects ----------------------------------------------------------------------------
    def add_object(
        self, obj_id: int | None = None, name: str | None = None, color: Any = None
    ) -> TrackedObject:
        """Add an object (ids count up from 1)."""
        obj = new_object(self.objects, obj_id, name, color)
        self.objects[obj.obj_id] = obj
        with self._tx():
            self._log(AddObject(obj.obj_id, obj.name, obj.color))
        return obj

    def rename_object(
        self, obj_id: int, name: str | None = None, color: Any = None
    ) -> TrackedObject:
        """Give an object another name or colour (None: keep it)."""
        o = self._check_obj(obj_id)
        new_name, rgb = rename(self.objects[o], name, color)
        with self._tx():
            self._log(RenameObject(o, new_name, rgb))
        return self.objects[o]

    def remove_object(self, obj_id: int) -> None:
        """Remove an object, its prompts and its mask."""
        o = self._check_obj(obj_id)
        del self.objects[o]
        self.candidates.pop(o, None)
        self.choice.pop(o, None)
        with self._tx():
            self.results.delete(obj_id=o)
            self._log(RemoveObject(o))
            self._keep_choice()

    def _check_obj(self, obj_id: Any) -> int:
        return known_object(self.objects, obj_id, "add_object")

    @staticmethod
    def _check_frame(frame_idx: Any) -> int:
        if frame_idx != 0:
            raise SessionError(f"An image has one frame, 0; got frame_idx={frame_idx!r}.")
        return 0

    # -- prompts ----------------------------------------------------------------------------
    def add_points(
        self, frame_idx: int, obj_id: int, points: Any, labels: Any = None, *, clear: bool = False
    ) -> FrameResult:
        """Clicks ``(x, y)`` with labels 1/0 (added to the object's clicks unless ``clear``)."""
        f, o = self._check_frame(frame_idx), self._check_obj(obj_id)
        pts, lab = check_points(points, labels, *self.size)
        if pts is None:
            raise PromptError("add_points needs at least one point.")
        return self._run(o, Points(f, o, pts.tolist(), lab.tolist(), clear))

    def add_box(
        self, frame_idx: int, obj_id: int, box: Any, points: Any = None, labels: Any = None
    ) -> FrameResult:
        """A box ``[x0, y0, x1, y1]`` (and optional clicks); replaces the object's prompts."""
        f, o = self._check_frame(frame_idx), self._check_obj(obj_id)
        b = check_box(box, *self.size)
        if b is None:
            raise PromptError("add_box needs a box [x0, y0, x1, y1].")
        pts, lab = check_points(points, labels, *self.size)
        e = Box(f, o, b.tolist(), None if pts is None else pts.tolist(),
                None if lab is None else lab.tolist())  # fmt: skip
        return self._run(o, e)

    def add_mask(self, frame_idx: int, obj_id: int, mask: Any) -> FrameResult:
        """Set an object's mask directly (no model call)."""
        f, o = self._check_frame(frame_idx), self._check_obj(obj_id)
        m, rle = check_mask(mask, *self.size)
        self.candidates.pop(o, None)
        self.choice.pop(o, None)
        with self._tx():
            self._log(Mask(f, o, rle))
            self.results.put(0, [o], m[None], scores=[1.0], ious=[None])
            self._keep_choice()
        return self.frame(0)

    def clear_frame(self, frame_idx: int, obj_id: int | None = None) -> FrameResult:
        """Remove the prompts and the mask of one object (or all)."""
        self._check_frame(frame_idx)
        ids = list(self.objects) if obj_id is None else [self._check_obj(obj_id)]
        with self._tx():
            for o in ids:
                self.candidates.pop(o, None)
                self.choice.pop(o, None)
                self.results.delete(obj_id=o)
            self._log(ClearFrame(0, None if obj_id is None else int(obj_id)))
            self._keep_choice()
        return self.frame(0)

    def _run(self, o: int, e: Entry) -> FrameResult:
        p = PromptLog([e]).get(0, o) if isinstance(e, Box) else self._after(o, e)
        multimask = len(p.points) == 1 and p.box is None
        pred = segment_image(
            self.engine, self.image,
            points=p.points or None, labels=p.labels or None, box=p.box,
            multimask=multimask, reuse_embedding=True, owner=self._holder,
        )  # fmt: skip
        self.candidates[o] = pred
        self.choice[o] = int(np.argmax(pred.scores))
        with self._tx():  # the prompt, the chosen mask and the choice: one commit
            self._log(e)
            self._store(o)
        return self.frame(0)

    def _after(self, o: int, e: Points) -> FramePrompts:
        """The object's prompts once ``e`` is added (without adding it yet)."""
        cur = self.log.get(0, o)
        if e.clear or cur.mask is not None:
            cur = FramePrompts()
        return FramePrompts([*cur.points, *e.points], [*cur.labels, *e.labels], cur.box)

    def choose(self, obj_id: int, index: int) -> FrameResult:
        """Pick candidate ``index`` (0-based) as the object's mask."""
        o = self._check_obj(obj_id)
        pred = self.candidates.get(o)
        if pred is None:
            raise SessionError(f"Object {o} has no candidates yet: click on it first.")
        if not 0 <= int(index) < len(pred.masks):
            raise SessionError(
                f"Candidate {index} does not exist: object {o} has {len(pred.masks)} "
                f"(0..{len(pred.masks) - 1})."
            )
        self.choice[o] = int(index)
        with self._tx():
            self._store(o)
        return self.frame(0)

    def _store(self, o: int) -> None:
        pred, k = self.candidates[o], self.choice[o]
        self.results.put(0, [o], pred.masks[k][None], scores=[1.0], ious=[float(pred.scores[k])])
        self._keep_choice()

    # -- reading -----------------------------------------------------------------------------
    def features_ready(self, frame_idx: int = 0) -> bool:
        """Whether a prompt needs no image encoder run: the model holds this image's features.

        Another image segmented with the same model since (a second app) takes them.

        Example:
            >>> im = s2.ImageSession(np.zeros((48, 64, 3), np.uint8), engine)
            >>> _ = im.add_object()
            >>> im.features_ready(), bool(im.add_points(0, 1, [(30, 20)], [1])), im.features_ready()
            (False, True, True)
        """
        from ..model.adapter import image_holder, image_is_set

        pred = self.engine.image_predictor
        w, h = self.size
        return image_holder(pred) is self._holder and image_is_set(pred, h, w)

    def frame(self, frame_idx: int = 0) -> FrameResult:
        """The chosen masks as a :class:`~sam2nb.FrameResult`."""
        return FrameResult(self._check_frame(frame_idx), self.results.frame(0))

    def masks(self, frame_idx: int = 0) -> dict[int, np.ndarray]:
        """``{obj_id: (H, W) bool}``: each object's chosen mask."""
        return self.frame(frame_idx).masks()

    def prompt_frames(self, obj_id: int | None = None) -> list[int]:
        """``[0]`` if anything (for the object) is prompted, else ``[]``."""
        return self.log.frames(obj_id)

    @property
    def untrained(self) -> bool:
        """True when the masks come from an untrained (random-weight) model."""
        return bool(self.engine.untrained)


def image_digest(image: np.ndarray) -> str:
    """A short hash of an image's pixels: the same picture gives the same name.

    Example:
        >>> image_digest(np.zeros((2, 2, 3), np.uint8))
        '032d1c6147'
    """
    h = hashlib.sha1(str(image.shape).encode())
    h.update(np.ascontiguousarray(image).tobytes())
    return h.hexdigest()[:10]


def load_image_session(folder: Any, engine: Any = None) -> ImageSession:
    """Resume an image session kept in ``folder``: objects, prompts, candidates, chosen masks.

    Example:
        >>> img = ImageSession(s2.read_image(photo), engine, folder=folder + "/img")
        >>> _ = img.add_points(0, img.add_object().obj_id, [(170, 210)], [1])
        >>> _ = img.choose(1, 2)
        >>> again = load_image_session(folder + "/img")  # after a restart
        >>> again.resumed, again.choice, again.results.get(0, 1).rle == img.results.get(0, 1).rle
        ('1 object, 1 prompt', {1: 2}, True)
    """
    from ..media.video import read_image
    from ..model import engine as modelmod

    folder = Path(folder).expanduser()
    db = folder / "results.sqlite"
    if not has_journal(db):
        raise SessionError(f"No image session in {folder}: check the folder name.")
    meta = read_value(db, "meta") or {}
    if meta.get("kind") != "image":
        raise SessionError(f"{folder} holds a video session: open it with sam2nb.open_session.")
    if engine is None:
        cur = modelmod.current()
        engine = cur if cur is not None and cur.name == meta["model"] else modelmod.load(
            meta["model"]
        )  # fmt: skip
    sess = ImageSession(read_image(folder / meta["image"]), engine)
    sess.results.close()
    sess.results = ResultStore.open(db, spill=True)
    sess.journal = Journal(sess.results)
    sess.log = PromptLog.from_journal(sess.journal)
    sess.objects = objects_in(sess.log)
    choice = {int(k): int(v) for k, v in sess.journal.get("choice", {}).items()}
    for o in sess.objects:  # the candidates again: the same prompts give the same answer
        p = sess.log.get(0, o)
        if o in choice and p.mask is None and (p.points or p.box is not None):
            sess.candidates[o] = segment_image(
                engine, sess.image, points=p.points or None, labels=p.labels or None,
                box=p.box, multimask=len(p.points) == 1 and p.box is None,
                reuse_embedding=True, owner=sess._holder,
            )  # fmt: skip
            sess.choice[o] = choice[o]
    n, k = len(sess.objects), sum(1 for e in sess.log if e.op in PROMPT_OPS)
    sess.resumed = f"{n} object{'s' * (n != 1)}, {k} prompt{'s' * (k != 1)}"
    return sess


def open_image_session(
    image: Any,
    engine: Any = None,
    folder: Any = "default",
    *,
    fresh: bool = False,
    name: str | None = None,
) -> ImageSession:
    """The image session kept in ``folder``: resumed if it holds one of this image, else new.

    Args:
        image: the image (an array).
        engine: the model.
        folder: the folder (``"default"``: ``sam2nb_sessions/<name or image-<hash>>``; None:
            in memory only).
        fresh: start over; an earlier session there is moved aside (never deleted).
        name: the image's name for the default folder (e.g. its file name without suffix).

    Example:
        >>> img = open_image_session(s2.read_image(photo), engine, folder + "/img")
        >>> img.resumed is None
        True
    """
    from ..storage.folders import holds_session, move_aside

    image = to_rgb8(np.asarray(image), "image")
    if folder is None:
        return ImageSession(image, engine)
    if folder == "default":
        folder = Path("sam2nb_sessions") / (name or f"image-{image_digest(image)}")
    folder = Path(folder).expanduser()
    aside = None
    if holds_session(folder):
        if not fresh:
            meta = read_value(folder / "results.sqlite", "meta") or {}
            if meta.get("image_sha1") != image_digest(image):
                raise SessionError(
                    f"{folder} holds a session on another image; nothing was changed. Pass "
                    "folder='another/folder', or fresh=True to move that session aside."
                )
            return load_image_session(folder, engine)
        aside = move_aside(folder)
    sess = ImageSession(image, engine, folder=folder)
    sess.moved_aside = aside
    return sess
