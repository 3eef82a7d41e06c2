"""The fake Hub: a local HTTP server that imitates the Hugging Face Hub routes huggingface_hub uses.

Stdlib only (it imports nothing of hubvram). It serves the repos laid out under a root folder (see
notes/FIXTURES-LAYOUT.md):

    <root>/<org>/<name>/repo.json
    <root>/<org>/<name>/files/<path>                     served byte for byte
    <root>/<org>/<name>/files/<p>.safetensors.header     served as <p>.safetensors: header + zero bytes

Point the real client at it with ``HF_ENDPOINT`` (and ``huggingface_hub.constants.ENDPOINT``, read at import).

Routes (model repos only, ids ``org/name``):

    GET  /api/models/{id}[/revision/{rev}]        model info (``expand=``, ``blobs=true``)
    HEAD|GET /{id}/resolve/{rev}/{path}           file bytes, ``Range`` -> 206 / 416
    GET  /api/models/{id}/safetensors-metadata/{index path}   every shard header of ``main`` at once
    GET  /api/models/{id}/tree/{rev}[/{path}]     listing, ``recursive=true``, ``Link: <...>; rel="next"``
    anything else                                 404

Choices where the real Hub's answer is unknown or impractical, kept deliberately:

- Model info and the tree listing of a *gated* repo are public, as on the real Hub (``gated`` says
  "auto"/"manual"); file downloads (resolve) and ``safetensors-metadata`` need ``FIXTURE_TOKEN``:
  none -> 401, another token -> 403, both with ``X-Error-Code: GatedRepo``.
- A *private* repo is hidden on every route: no token -> 401, another token -> 404, both
  ``X-Error-Code: RepoNotFound``.
- ``safetensors-metadata`` answers ``500`` (``X-Error-Message`` names the shard) when a shard header is
  not valid JSON, and ``404 EntryNotFound`` when the index or a shard is missing.
- Etags: a stored file has its git blob sha1 (and its sha256 when it is an LFS file). Virtual files
  (``*.safetensors`` built from a ``.header``, ``virtual_files``) get a deterministic *fake* sha256
  derived from repo id, path, size and header bytes: hashing gigabytes of zeros would be pointless.
- LFS files: ``*.safetensors``, ``*.bin`` and the other weight suffixes in ``LFS_SUFFIXES``, and every
  virtual file. They carry ``X-Linked-Size`` / ``X-Linked-Etag`` and an ``lfs`` entry in listings.
- ``Range``: ``bytes=a-b``, ``bytes=a-`` and ``bytes=-n``; anything else (several ranges, a malformed
  spec) and a start beyond the end answer ``416`` with ``Content-Range: bytes */size``.
- The tree ``cursor`` query parameter is an offset; ``expand=true`` on the tree adds nothing.

Observability (thread-safe): ``server.requests`` (list of ``RequestRecord``), ``server.bytes_sent``
(response *body* bytes actually written to sockets), ``server.reset()``, ``server.wait_idle()``.
``RequestRecord.path`` is percent-decoded and has no query; ``status`` is 0 when no response was sent.

Fault injection: ``server.add_fault(pattern, action, times=1, method=None, **params)``; see ``add_fault``.

Run it standalone (benchmarks, README demo)::

    python -m hubvram.testing --root fixtures/hub --port 8765 --latency 0.05
"""

from __future__ import annotations

from .records import FAULT_ACTIONS, Fault, RequestRecord
from .repos import FIXTURE_TOKEN, LFS_SUFFIXES, parse_safetensors_header, safetensors_header, write_repo
from .server import HubServer

__all__ = [
    "FAULT_ACTIONS",
    "FIXTURE_TOKEN",
    "LFS_SUFFIXES",
    "Fault",
    "HubServer",
    "RequestRecord",
    "parse_safetensors_header",
    "safetensors_header",
    "write_repo",
]
