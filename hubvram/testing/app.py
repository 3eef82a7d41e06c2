"""The fake Hub's routes: model info, resolve (with Range), the tree listing, safetensors-metadata."""

from __future__ import annotations

import hashlib
import json
import re
import threading
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlencode

from .repos import FIXTURE_TOKEN, Repo, load_repo, parse_safetensors_header
from .responses import Response, error_response, json_response, parse_range, repo_not_found

DEFAULT_PAGE_SIZE = 1000

EXPANDABLE_MODEL_FIELDS = frozenset(
    {
        "author",
        "baseModels",
        "cardData",
        "childrenModelCount",
        "config",
        "createdAt",
        "disabled",
        "downloads",
        "downloadsAllTime",
        "evalResults",
        "gated",
        "gguf",
        "inference",
        "inferenceProviderMapping",
        "lastModified",
        "library_name",
        "likes",
        "mask_token",
        "model-index",
        "pipeline_tag",
        "private",
        "resourceGroup",
        "safetensors",
        "sha",
        "siblings",
        "spaces",
        "tags",
        "transformersInfo",
        "trendingScore",
        "usedStorage",
        "widgetData",
    }
)

METADATA_ANSWERS_KEPT = 64
SEGMENT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class HubApp:
    """Routes a request to a `Response`. Pure with respect to the socket: `Handler` writes it."""

    def __init__(self, server: Any) -> None:  # the HubServer: its root, page size and caches
        self.server = server
        self._cache: dict[Path, tuple[int, Repo]] = {}
        self._cache_lock = threading.Lock()
        # safetensors-metadata answers by content (index bytes + every shard's header bytes): the Hub
        # serves this route from metadata it stored at upload, not by re-parsing every shard per request.
        # Built once, a 160-shard answer (11 MB) no longer costs the server 0.5 s of a CPU that the
        # client under test shares on a small machine. Bounded: the oldest answers are dropped.
        self._metadata_answers: dict[str, bytes] = {}
        self._metadata_indexes: dict[str, tuple[dict, list[str]]] = {}

    def clear_cache(self) -> None:
        with self._cache_lock:
            self._cache.clear()

    def repo(self, org: str, name: str) -> Repo | None:
        if not SEGMENT_RE.match(org) or not SEGMENT_RE.match(name):
            return None
        repo_dir = self.server.root / org / name
        meta = repo_dir / "repo.json"
        try:
            mtime = meta.stat().st_mtime_ns
        except OSError:
            return None
        with self._cache_lock:
            cached = self._cache.get(repo_dir)
            if cached and cached[0] == mtime:
                return cached[1]
        repo = load_repo(repo_dir, f"{org}/{name}")
        with self._cache_lock:
            self._cache[repo_dir] = (mtime, repo)
        return repo

    # -- access control
    @staticmethod
    def _token(headers: dict[str, str]) -> str | None:
        auth = headers.get("authorization")
        if not auth:
            return None
        scheme, _, token = auth.partition(" ")
        return token.strip() if scheme.lower() == "bearer" else auth.strip()

    def _check_private(self, repo: Repo, headers: dict[str, str]) -> Response | None:
        if not repo.private:
            return None
        token = self._token(headers)
        if token == FIXTURE_TOKEN:
            return None
        return repo_not_found(401 if token is None else 404)

    def _check_gated(self, repo: Repo, headers: dict[str, str], extra: dict[str, str]) -> Response | None:
        if not repo.gated:
            return None
        token = self._token(headers)
        if token == FIXTURE_TOKEN:
            return None
        if token is None:
            return error_response(
                401,
                "GatedRepo",
                f"Access to model {repo.id} is restricted. You must have access to it "
                "and be authenticated to access it. Please log in.",
                extra,
            )
        return error_response(
            403,
            "GatedRepo",
            f"Access to model {repo.id} is restricted and you are not in the "
            "authorized list. Visit the model page to ask for access.",
            extra,
        )

    # -- dispatch
    def handle(
        self, method: str, raw_path: str, query: dict[str, list[str]], headers: dict[str, str], host: str
    ) -> Response:
        segs = [unquote(s) for s in raw_path.split("/")[1:]]
        moved = self.moved(segs, raw_path, query)
        if moved is not None:
            return moved
        if method in ("GET", "HEAD"):
            if len(segs) >= 5 and segs[2] == "resolve":
                return self.resolve(method, segs[0], segs[1], segs[3], "/".join(segs[4:]), headers)
            if len(segs) >= 4 and segs[:2] == ["api", "models"]:
                org, name, rest = segs[2], segs[3], segs[4:]
                if not rest:
                    return self.model_info(org, name, None, query, headers)
                if rest[0] == "revision" and len(rest) == 2:
                    return self.model_info(org, name, rest[1], query, headers)
                if rest[0] == "tree" and len(rest) >= 2:
                    return self.tree(
                        org, name, rest[1], "/".join(rest[2:]).strip("/"), raw_path, query, headers, host
                    )
                if rest[0] == "safetensors-metadata" and len(rest) >= 2:
                    return self.safetensors_metadata(org, name, "/".join(rest[1:]), headers)
        return error_response(404, None, "Not Found")

    def moved(self, segs: list[str], raw_path: str, query: dict[str, list[str]]) -> Response | None:
        """A legacy id without an organisation (`gpt2`) redirects to its repo, as on the Hub (307), for the
        API routes and for resolve; `<root>/redirects.json` maps old ids to new ones."""
        redirects = self._redirects()
        api = segs[:2] == ["api", "models"] and len(segs) >= 3
        old = segs[2] if api else segs[0] if len(segs) >= 2 and segs[1] == "resolve" else None
        if old is None or old not in redirects:
            return None
        head = "/api/models/" if api else "/"
        rest = raw_path[len(head) + len(old) :]
        location = head + redirects[old] + rest + ("?" + urlencode(query, doseq=True) if query else "")
        return Response(307, {"Location": location})

    def _redirects(self) -> dict[str, str]:
        path = self.server.root / "redirects.json"
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            return {}
        return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, str)}

    def _open(self, org: str, name: str, headers: dict[str, str]) -> tuple[Repo | None, Response | None]:
        repo = self.repo(org, name)
        if repo is None:
            return None, repo_not_found()
        denied = self._check_private(repo, headers)
        return (None, denied) if denied else (repo, None)

    def model_info(
        self, org: str, name: str, revision: str | None, query: dict[str, list[str]], headers: dict[str, str]
    ) -> Response:
        repo, err = self._open(org, name, headers)
        if err:
            return err
        sha = repo.resolve(revision or "main")
        if sha is None:
            return error_response(404, "RevisionNotFound", f"Invalid rev id: {revision}")
        blobs = query.get("blobs", ["false"])[-1].lower() in ("1", "true")
        siblings = []
        for f in repo.files.values():
            s: dict[str, Any] = {"rfilename": f.path}
            if blobs:
                s["size"] = f.size
                s["blobId"] = f.oid
                if f.lfs:
                    s["lfs"] = f.lfs_info
            siblings.append(s)
        info: dict[str, Any] = {
            **repo.model_info,
            "_id": repo.object_id,
            "id": repo.id,
            "modelId": repo.id,
            "sha": sha,
            "private": repo.private,
            "gated": repo.gated,
            "disabled": False,
            "siblings": siblings,
        }
        expand = [e for key in ("expand", "expand[]") for v in query.get(key, []) for e in v.split(",") if e]
        if expand:
            unknown = sorted(set(expand) - EXPANDABLE_MODEL_FIELDS)
            if unknown:
                return error_response(
                    400, None, f'"expand" must be one of {sorted(EXPANDABLE_MODEL_FIELDS)}, got {unknown}'
                )
            info = {"_id": info["_id"], "id": info["id"], **{k: info[k] for k in expand if k in info}}
        return json_response(200, info)

    def resolve(
        self, method: str, org: str, name: str, revision: str, path: str, headers: dict[str, str]
    ) -> Response:
        repo, err = self._open(org, name, headers)
        if err:
            return err
        sha = repo.resolve(revision)
        if sha is None:
            return error_response(404, "RevisionNotFound", f"Invalid rev id: {revision}")
        base = {"X-Repo-Commit": sha}
        denied = self._check_gated(repo, headers, base)
        if denied:
            return denied
        f = repo.files.get(path)
        if f is None:
            return error_response(404, "EntryNotFound", f'{path} does not exist on "{revision}"', base)
        h = {
            **base,
            "ETag": f.etag,
            "Accept-Ranges": "bytes",
            "Content-Type": "application/json" if path.endswith(".json") else "application/octet-stream",
            "Content-Disposition": f'inline; filename="{Path(path).name}"',
        }
        if f.lfs:
            h["X-Linked-Size"] = str(f.size)
            h["X-Linked-Etag"] = f.etag
        rng = headers.get("range")
        if rng is None:
            return Response(200, h, file_range=(f, 0, f.size))
        span = parse_range(rng, f.size)
        if span is None:
            return error_response(
                416, None, "Requested Range Not Satisfiable", {**h, "Content-Range": f"bytes */{f.size}"}
            )
        start, end = span
        h["Content-Range"] = f"bytes {start}-{end - 1}/{f.size}"
        return Response(206, h, file_range=(f, start, end))

    def tree(
        self,
        org: str,
        name: str,
        revision: str,
        path: str,
        raw_path: str,
        query: dict[str, list[str]],
        headers: dict[str, str],
        host: str,
    ) -> Response:
        repo, err = self._open(org, name, headers)
        if err:
            return err
        if repo.resolve(revision) is None:
            return error_response(404, "RevisionNotFound", f"Invalid rev id: {revision}")
        recursive = query.get("recursive", ["false"])[-1].lower() in ("1", "true")
        dirs: set[str] = set()
        for fpath in repo.files:
            parts = fpath.split("/")[:-1]
            dirs.update("/".join(parts[: i + 1]) for i in range(len(parts)))
        if path and path not in dirs:
            return error_response(404, "EntryNotFound", f'{path} does not exist on "{revision}"')
        prefix = f"{path}/" if path else ""

        def wanted(p: str) -> bool:
            return p.startswith(prefix) and (recursive or "/" not in p[len(prefix) :])

        entries: list[dict[str, Any]] = [
            {
                "type": "directory",
                "oid": hashlib.sha1(f"tree\0{repo.id}\0{d}".encode()).hexdigest(),
                "size": 0,
                "path": d,
            }
            for d in dirs
            if wanted(d)
        ]
        for f in repo.files.values():
            if wanted(f.path):
                e: dict[str, Any] = {"type": "file", "oid": f.oid, "size": f.size, "path": f.path}
                if f.lfs:
                    info = f.lfs_info
                    e["lfs"] = {"oid": info["sha256"], "size": f.size, "pointerSize": info["pointerSize"]}
                entries.append(e)
        entries.sort(key=lambda e: e["path"])
        try:
            cursor = max(0, int(query.get("cursor", ["0"])[-1]))
        except ValueError:
            return error_response(400, None, "Invalid cursor")
        page_size = max(1, int(self.server.page_size))
        page = entries[cursor : cursor + page_size]
        h: dict[str, str] = {}
        if cursor + page_size < len(entries):
            q = [(k, v) for k, vs in query.items() if k != "cursor" for v in vs]
            q.append(("cursor", str(cursor + page_size)))
            h["Link"] = f'<http://{host}{raw_path}?{urlencode(q)}>; rel="next"'
        return json_response(200, page, h)

    def safetensors_metadata(self, org: str, name: str, index_path: str, headers: dict[str, str]) -> Response:
        repo, err = self._open(org, name, headers)
        if err:
            return err
        denied = self._check_gated(repo, headers, {})
        if denied:
            return denied
        index_file = repo.files.get(index_path)
        if index_file is None:
            return error_response(404, "EntryNotFound", f'{index_path} does not exist on "main"')
        index_raw = b"".join(index_file.iter_range(0, index_file.size))
        index_key = hashlib.sha256(index_raw).hexdigest()
        parsed = self._metadata_indexes.get(index_key)  # DeepSeek-V3's index is 8.8 MB: parsed once
        if parsed is None:
            try:
                index = json.loads(index_raw)
                shards = sorted(set(index["weight_map"].values()))
            except (ValueError, KeyError, TypeError, AttributeError):
                return error_response(400, None, f"{index_path} is not a safetensors index (no weight_map)")
            parsed = ({k: v for k, v in index.items() if k != "weight_map"}, shards)
            self._keep(self._metadata_indexes, index_key, parsed)
        index_rest, shards = parsed
        folder = index_path.rsplit("/", 1)[0] + "/" if "/" in index_path else ""
        prefixes: dict[str, bytes] = {}
        for shard in shards:
            f = repo.files.get(folder + shard)
            if f is None:
                return error_response(
                    404, "EntryNotFound", f'shard {folder + shard} does not exist on "main"'
                )
            prefixes[shard] = f.prefix if f.virtual else b"".join(f.iter_range(0, min(f.size, 100_000_000)))
        digest = hashlib.sha256(index_raw)
        for shard, prefix in prefixes.items():
            digest.update(b"\0%d\0%s\0" % (len(prefix), shard.encode()))
            digest.update(prefix)
        key = digest.hexdigest()  # by content, not by reference: no 100 MB shard kept as a key
        body = self._metadata_answers.get(key)
        if body is None:
            out: dict[str, Any] = {}
            for shard, prefix in prefixes.items():
                try:
                    out[shard] = parse_safetensors_header(prefix)
                except ValueError as exc:
                    return error_response(
                        500, None, f"Could not parse the safetensors header of {folder + shard}: {exc}"
                    )
            answer = {"index": index_rest, "headers": out}
            body = json.dumps(answer, separators=(",", ":")).encode()
            self._keep(self._metadata_answers, key, body)
        return Response(200, {"Content-Type": "application/json; charset=utf-8"}, body)

    def _keep(self, kept: dict[str, Any], key: str, value: Any) -> None:
        """Remember a built answer by content; past METADATA_ANSWERS_KEPT, the oldest is dropped."""
        with self._cache_lock:
            while len(kept) >= METADATA_ANSWERS_KEPT:
                del kept[next(iter(kept))]
            kept[key] = value
