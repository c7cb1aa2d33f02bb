"""The endpoints of the loopback GitHub (see :mod:`github_server` for the behaviour and docs)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import secrets
import time
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import quote

from tests.github_server import (
    LEVELS,
    Asset,
    Fault,
    GitHubServer,
    HttpError,
    Logged,
    Release,
    Repo,
    Route,
    Token,
    _Drop,
    _ids,
    _now,
    iter_chunks,
    parse_query,
    reset_connection,
)

Result = tuple[int, Any, dict[str, str]]
_APP_PERMISSIONS = {"actions", "administration", "attestations", "checks", "contents",
                    "deployments", "discussions", "issues", "metadata", "packages", "pages",
                    "pull_requests", "repository_projects", "security_events", "statuses"}


class _Sent(Exception):
    """The response was streamed already."""


def _invalid(message: str, field: str = "", code: str = "custom") -> HttpError:
    return HttpError(422, "Validation Failed",
                     errors=[{"resource": "Release", "code": code, "field": field,
                              "message": message}])


class Handler(BaseHTTPRequestHandler):
    """One request; class attributes ``gh``, ``host`` and ``routes`` are set per listener."""

    protocol_version = "HTTP/1.1"
    gh: GitHubServer
    host: str
    routes: list[Route]

    def log_message(self, format: str, *args: Any) -> None:
        del format, args

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    # -- plumbing ------------------------------------------------------------------------
    def _dispatch(self, method: str) -> None:
        path, self.query = parse_query(self.path)
        self.unread = int(self.headers.get("Content-Length") or 0)
        self.tok: Token | None = None
        self.corrupt = False
        self.logged = False
        self.entry = (method, path)
        self.kind = kind = "anonymous"
        status = 0
        try:
            self.tok = self._auth()
            kind = self.tok.kind if self.tok else ("app-jwt" if self.jwt_app else kind)
            self.kind = kind
            route = self._route(method, path)
            fault = self._fault(method, path)
            if route is None:
                raise HttpError(404, "Not Found")
            name, args = route
            if fault is not None:
                status = self._fault_response(fault, name, args)
            else:
                status = self._respond(*getattr(self, "ep_" + name)(**args))
        except HttpError as err:
            body: dict[str, Any] = {"message": err.message,
                                    "documentation_url": "https://docs.github.com/rest"}
            if err.errors:
                body["errors"] = err.errors
            status = self._respond(err.status, body, err.headers or {})
        except _Sent:
            status = 200
        except _Drop:
            self._log(0)
            self.close_connection = True
            reset_connection(self.connection)
        finally:
            self._log(status)

    def _log(self, status: int) -> None:
        """Record the request before its answer leaves, so a client never outruns the log."""
        if not self.logged:
            self.logged = True
            with self.gh.lock:
                self.gh.requests.append(Logged(self.host, *self.entry, status,
                                               getattr(self, "kind", "anonymous")))

    def _auth(self) -> Token | None:
        self.jwt_app: int | None = None
        header = self.headers.get("Authorization")
        if not header:
            return None
        scheme, _, cred = header.partition(" ")
        if scheme.lower() == "bearer" and cred.count(".") == 2:
            self.jwt_app = self._verify_jwt(cred)
            return None
        tok = self.gh.tokens.get(cred)
        if tok is None or tok.revoked:
            raise HttpError(401, "Bad credentials")
        return tok

    def _verify_jwt(self, jwt: str) -> int:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        def unb64(part: str) -> bytes:
            return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))

        head, body, sig = jwt.split(".")
        try:
            claims = json.loads(unb64(body))
            app_id = int(claims["iss"])
        except (ValueError, KeyError, binascii.Error):
            raise HttpError(401, "A JSON web token could not be decoded") from None
        apps = [a for a in self.gh.apps.values() if a.app_id == app_id]
        now = time.time()
        if not apps or not claims.get("exp", 0) > now >= claims.get("iat", now + 1) - 60:
            raise HttpError(401, "'Expiration time' claim ('exp') is too far in the future "
                                 "or the App does not exist")
        try:
            apps[0].public_key.verify(unb64(sig), f"{head}.{body}".encode(),
                                      padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            raise HttpError(401, "A JSON web token could not be decoded") from None
        return app_id

    def _route(self, method: str, path: str) -> tuple[str, dict[str, str]] | None:
        for m, _, pattern, name in self.routes:
            if (match := pattern.match(path)) and m == method:
                return name, match.groupdict()
        return None

    def _fault(self, method: str, path: str) -> Fault | None:
        with self.gh.lock:
            for fault in self.gh.faults:
                if fault.times > 0 and fault.method == method and re.search(fault.path, path):
                    fault.times -= 1
                    return fault
        return None

    def _fault_response(self, fault: Fault, name: str, args: dict[str, str]) -> int:
        if fault.kind == "status":
            if fault.apply_first:
                getattr(self, "ep_" + name)(**args)
            return self._respond(fault.status, {"message": "Server Error"}, {})
        if fault.kind == "rate-limit":
            return self._respond(fault.status, {
                "message": "You have exceeded a secondary rate limit. Please wait a few "
                           "minutes before you try again."},
                {"retry-after": str(fault.retry_after)})
        if fault.kind == "reset":
            keep = fault.after_bytes if fault.after_bytes is not None else self.unread // 2
            self._read(min(keep, self.unread))
            if name == "upload_asset":
                self._starter_asset(args)
            raise _Drop
        if fault.kind == "corrupt":  # the stored bytes differ from the bytes sent
            self.corrupt = True
            return self._respond(*getattr(self, "ep_" + name)(**args))
        if fault.kind == "crash":
            if fault.on_crash is not None:
                fault.on_crash()
            raise _Drop
        raise AssertionError(fault.kind)

    def _read(self, n: int) -> bytes:
        data = self.rfile.read(n) if n else b""
        self.unread -= len(data)
        return data

    def _json(self) -> Any:
        raw = self._read(self.unread)
        try:
            return json.loads(raw or b"{}")
        except ValueError:
            raise HttpError(400, "Problems parsing JSON") from None

    def _respond(self, status: int, payload: Any, headers: dict[str, str]) -> int:
        while self.unread > 0:  # keep-alive needs the whole request body consumed
            if not self._read(min(self.unread, 1 << 20)):
                break
        data = b"" if payload is None else json.dumps(payload).encode()
        self._log(status)
        self.send_response(status)
        if data:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        if self.tok is not None and self.tok.kind == "classic":
            self.send_header("X-OAuth-Scopes", ", ".join(self.tok.scopes))
            self.send_header("X-Accepted-OAuth-Scopes", "repo")
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)
        return status

    # -- lookups ---------------------------------------------------------------------------
    def _repo(self, owner: str, repo: str, perm: str = "contents", level: str = "read") -> Repo:
        r = self.gh.repos.get(f"{owner}/{repo}")
        if r is None:
            raise HttpError(404, "Not Found")
        self.gh.require(self.tok, r, perm, level)
        return r

    def _push(self, r: Repo) -> bool:
        return self.gh.allowed(self.tok, r, "contents", "write")

    def _release(self, r: Repo, rid: str) -> Release:
        rel = r.releases.get(int(rid))
        if rel is None or (rel.draft and not self._push(r)):
            raise HttpError(404, "Not Found")
        return rel

    def _asset(self, r: Repo, aid: str) -> tuple[Release, Asset]:
        for rel in r.releases.values():
            for a in rel.assets:
                if a.id == int(aid) and (not rel.draft or self._push(r)):
                    return rel, a
        raise HttpError(404, "Not Found")

    def _starter_asset(self, args: dict[str, str]) -> None:
        r = self.gh.repos[f"{args['owner']}/{args['repo']}"]
        rel = r.releases[int(args["rid"])]
        name = self.query.get("name", "")
        with self.gh.lock:
            if name and not any(a.name == name for a in rel.assets):
                rel.assets.append(Asset(next(_ids), name, None, "application/octet-stream",
                                        0, None, "starter", self.gh.root / "starter"))

    # -- repository, refs, settings ----------------------------------------------------------
    def ep_get_repo(self, owner: str, repo: str) -> Result:
        r = self._repo(owner, repo, "metadata")
        return 200, self.gh.repo_json(r), {}

    def ep_get_ref(self, owner: str, repo: str, tag: str) -> Result:
        r = self._repo(owner, repo)
        sha = r.tags.get(tag)
        if sha is None:
            raise HttpError(404, "Not Found")
        kind = "tag" if sha in r.tag_objects else "commit"
        url = f"{self.gh.api_url}/repos/{r.full_name}/git/refs/tags/{tag}"
        return 200, {"ref": f"refs/tags/{tag}", "node_id": "REF_1", "url": url,
                     "object": {"type": kind, "sha": sha, "url": url}}, {}

    def ep_get_tag(self, owner: str, repo: str, sha: str) -> Result:
        r = self._repo(owner, repo)
        if sha not in r.tag_objects:
            raise HttpError(404, "Not Found")
        tag, commit = r.tag_objects[sha]
        return 200, {"sha": sha, "tag": tag, "message": tag,
                     "object": {"sha": commit, "type": "commit", "url": ""}}, {}

    def ep_immutable_setting(self, owner: str, repo: str) -> Result:
        r = self._repo(owner, repo, "administration")
        return 200, {"enabled": r.immutable_releases, "enforced_by_owner": False}, {}

    # -- releases ------------------------------------------------------------------------------
    def ep_list_releases(self, owner: str, repo: str) -> Result:
        r = self._repo(owner, repo)
        push = self._push(r)
        rels = [x for x in sorted(r.releases.values(), key=lambda x: -x.id)
                if push or not x.draft]
        per = min(int(self.query.get("per_page", 30)), 100)
        page = int(self.query.get("page", 1))
        chunk = rels[(page - 1) * per: page * per]
        return 200, [self.gh.release_json(r, x) for x in chunk], {}

    def ep_release_by_tag(self, owner: str, repo: str, tag: str) -> Result:
        r = self._repo(owner, repo)
        for rel in r.releases.values():
            if rel.tag_name == tag and not rel.draft:
                return 200, self.gh.release_json(r, rel), {}
        raise HttpError(404, "Not Found")

    def ep_get_release(self, owner: str, repo: str, rid: str) -> Result:
        r = self._repo(owner, repo)
        return 200, self.gh.release_json(r, self._release(r, rid)), {}

    def ep_generate_notes(self, owner: str, repo: str) -> Result:
        r = self._repo(owner, repo, "contents", "write")
        tag = self._json().get("tag_name") or ""
        if not tag:
            raise _invalid("tag_name is missing", "tag_name", "missing_field")
        body = (f"## What's Changed\n\n**Full Changelog**: "
                f"{self.gh.api_url}/{r.full_name}/commits/{tag}")
        return 200, {"name": tag, "body": body}, {}

    def ep_create_release(self, owner: str, repo: str) -> Result:
        r = self._repo(owner, repo, "contents", "write")
        data = self._json()
        tag = data.get("tag_name")
        if not isinstance(tag, str) or not tag:
            raise _invalid("tag_name is missing", "tag_name", "missing_field")
        with self.gh.lock:
            self._check_tag_free(r, tag, None)
            rel = Release(next(_ids), tag, data.get("target_commitish") or "main",
                          data.get("name"), data.get("body"), bool(data.get("draft", False)),
                          bool(data.get("prerelease", False)))
            if data.get("generate_release_notes"):
                rel.body = (rel.body or "") + f"\n\n**Full Changelog**: {tag}"
            if not rel.draft:
                self._publish(r, rel)
            r.releases[rel.id] = rel
        return 201, self.gh.release_json(r, rel), {}

    def _check_tag_free(self, r: Repo, tag: str, this: Release | None) -> None:
        if any(x.tag_name == tag and not x.draft and x is not this
               for x in r.releases.values()):
            raise _invalid("already_exists", "tag_name", "already_exists")
        if tag in r.locked_tags:
            raise _invalid(f"tag_name {tag} was used by an immutable release and cannot be "
                           "reused", "tag_name")

    def _publish(self, r: Repo, rel: Release) -> None:
        self._check_tag_free(r, rel.tag_name, rel)
        if rel.tag_name not in r.tags:
            if not re.fullmatch(r"[0-9a-f]{40}", rel.target_commitish):
                raise _invalid("target_commitish is invalid", "target_commitish", "invalid")
            r.tags[rel.tag_name] = rel.target_commitish
        rel.draft = False
        rel.published_at = _now()
        if r.immutable_releases:
            rel.immutable = True
            r.locked_tags.add(rel.tag_name)

    def ep_update_release(self, owner: str, repo: str, rid: str) -> Result:
        r = self._repo(owner, repo, "contents", "write")
        rel = self._release(r, rid)
        data = self._json()
        with self.gh.lock:
            if rel.immutable:
                if "tag_name" in data and data["tag_name"] != rel.tag_name:
                    raise _invalid("Cannot change the tag of an immutable release", "tag_name")
                if data.get("draft") is True:
                    raise _invalid("Cannot convert an immutable release to a draft", "draft")
            elif "tag_name" in data:
                rel.tag_name = str(data["tag_name"])
            for key in ("name", "body", "prerelease", "target_commitish"):
                if key in data and not (rel.immutable and key == "target_commitish"):
                    setattr(rel, key, data[key])
            if rel.draft and data.get("draft") is False:
                self._publish(r, rel)
            elif not rel.draft and data.get("draft") is True:
                rel.draft, rel.published_at = True, None
        return 200, self.gh.release_json(r, rel), {}

    def ep_delete_release(self, owner: str, repo: str, rid: str) -> Result:
        r = self._repo(owner, repo, "contents", "write")
        rel = self._release(r, rid)
        with self.gh.lock:
            r.releases.pop(rel.id, None)
        return 204, None, {}

    # -- assets --------------------------------------------------------------------------------
    def ep_list_assets(self, owner: str, repo: str, rid: str) -> Result:
        r = self._repo(owner, repo)
        rel = self._release(r, rid)
        return 200, [self.gh.asset_json(r, rel, a) for a in rel.assets], {}

    def ep_get_asset(self, owner: str, repo: str, aid: str) -> Result:
        r = self._repo(owner, repo)
        rel, a = self._asset(r, aid)
        if self.headers.get("Accept") == "application/octet-stream":
            return 302, None, {"Location": self._object_url(a)}
        return 200, self.gh.asset_json(r, rel, a), {}

    def _object_url(self, a: Asset) -> str:
        with self.gh.lock:
            sigs: dict[int, str] = self.gh.__dict__.setdefault("object_sigs", {})
            sig = sigs.setdefault(a.id, secrets.token_hex(8))
        return f"{self.gh.uploads_url}/_objects/{a.id}?sig={sig}"

    def ep_delete_asset(self, owner: str, repo: str, aid: str) -> Result:
        r = self._repo(owner, repo, "contents", "write")
        rel, a = self._asset(r, aid)
        if rel.immutable:
            raise HttpError(422, "Cannot delete an asset of an immutable release")
        with self.gh.lock:
            rel.assets.remove(a)
        return 204, None, {}

    def ep_upload_asset(self, owner: str, repo: str, rid: str) -> Result:
        r = self._repo(owner, repo, "contents", "write")
        rel = self._release(r, rid)
        name = self.query.get("name", "")
        if not name:
            raise HttpError(422, "Validation Failed", errors=[
                {"resource": "ReleaseAsset", "code": "missing_field", "field": "name"}])
        if "Content-Length" not in self.headers:
            raise HttpError(400, "Content-Length header is required")
        if rel.immutable:
            raise HttpError(422, "Cannot upload assets to an immutable release")
        if any(a.name == name for a in rel.assets):
            raise HttpError(422, "Validation Failed", errors=[
                {"resource": "ReleaseAsset", "code": "already_exists", "field": "name"}])
        aid = next(_ids)
        path = self.gh.root / f"asset-{aid}"
        digest, size = hashlib.sha256(), 0
        with path.open("wb") as f:
            while self.unread > 0:
                chunk = self._read(min(self.unread, 1 << 20))
                if not chunk:
                    raise _Drop
                if self.corrupt and size == 0:
                    chunk = bytes([chunk[0] ^ 0xFF]) + chunk[1:]
                digest.update(chunk)
                f.write(chunk)
                size += len(chunk)
        asset = Asset(aid, name, self.query.get("label"),
                      self.headers.get("Content-Type", "application/octet-stream"), size,
                      f"sha256:{digest.hexdigest()}", "uploaded", path)
        with self.gh.lock:
            if any(a.name == name for a in rel.assets):
                raise HttpError(422, "Validation Failed", errors=[
                    {"resource": "ReleaseAsset", "code": "already_exists", "field": "name"}])
            rel.assets.append(asset)
        return 201, self.gh.asset_json(r, rel, asset), {}

    def ep_object(self, aid: str) -> Result:
        sigs: dict[int, str] = self.gh.__dict__.get("object_sigs", {})
        if sigs.get(int(aid)) != self.query.get("sig"):
            raise HttpError(403, "Request has expired or the signature does not match")
        for r in self.gh.repos.values():
            for rel in r.releases.values():
                for a in rel.assets:
                    if a.id == int(aid):
                        return self._stream_file(a)
        raise HttpError(404, "Not Found")

    def ep_browser_download(self, owner: str, repo: str, tag: str, name: str) -> Result:
        r = self._repo(owner, repo)
        for rel in r.releases.values():
            if rel.tag_name == tag and not rel.draft:
                for a in rel.assets:
                    if a.name == name and a.state == "uploaded":
                        return 302, None, {"Location": self._object_url(a)}
        raise HttpError(404, "Not Found")

    def _stream_file(self, a: Asset) -> Result:
        self._log(200)
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(a.size))
        self.end_headers()
        for chunk in iter_chunks(a.path):
            self.wfile.write(chunk)
        raise _Sent

    # -- attestations and tokens ------------------------------------------------------------------
    def ep_create_attestation(self, owner: str, repo: str) -> Result:
        r = self._repo(owner, repo, "attestations", "write")
        bundle = self._json().get("bundle")
        try:
            payload = base64.b64decode(bundle["dsseEnvelope"]["payload"])
            statement = json.loads(payload)
            digests = [f"sha256:{s['digest']['sha256']}" for s in statement["subject"]]
        except (TypeError, KeyError, ValueError, binascii.Error):
            raise HttpError(422, "Invalid bundle: expected a DSSE envelope with an in-toto "
                                 "statement") from None
        with self.gh.lock:
            att = {"id": next(_ids), "bundle": bundle, "digests": digests,
                   "predicate_type": statement.get("predicateType", "")}
            r.attestations.append(att)
        return 201, {"id": att["id"]}, {}

    def ep_list_attestations(self, owner: str, repo: str, digest: str) -> Result:
        r = self._repo(owner, repo, "attestations", "read")
        kind = self.query.get("predicate_type", "")
        wanted = {"provenance": "https://slsa.dev/provenance/",
                  "release": "https://in-toto.io/attestation/release/",
                  "sbom": "https://cyclonedx.org/bom"}.get(kind, kind)
        matching = [a for a in r.attestations if digest in a["digests"] and
                    str(a.get("predicate_type", "")).startswith(wanted)]
        per = min(int(self.query.get("per_page", 30)), self.gh.attestations_per_page)
        after = int(self.query.get("after", 0))
        chunk = matching[after:after + per]
        found = [{"bundle": None if self.gh.bundle_url_mode else a["bundle"],
                  "repository_id": r.id,
                  "bundle_url": f"{self.gh.bundle_url_base or self.gh.uploads_url}"
                                f"/_bundles/{a['id']}"
                  if self.gh.bundle_url_mode else None,
                  "initiator": a.get("initiator", "user")} for a in chunk]
        headers = {}
        if after + per < len(matching):
            query = f"per_page={per}&after={after + per}" + (
                f"&predicate_type={quote(kind, safe='')}" if kind else "")
            link = (f"{self.gh.api_url}/repositories/{r.id}/attestations/{digest}?{query}")
            headers["Link"] = f'<{self.gh.attestations_link or link}>; rel="next"'
        return 200, {"attestations": found}, headers

    def ep_bundle_blob(self, att: str) -> Result:
        """Blob storage: a bundle's JSON, Snappy-compressed, for anyone with the URL."""
        from tests.github_server import snappy_compress

        for r in self.gh.repos.values():
            for a in r.attestations:
                if a["id"] == int(att):
                    data = snappy_compress(json.dumps(a["bundle"]).encode())
                    self._log(200)
                    self.send_response(200)
                    self.send_header("Content-Type", "application/octet-stream")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    raise _Sent
        raise HttpError(404, "BlobNotFound")

    def ep_mint_token(self, iid: str) -> Result:
        app = self.gh.apps.get(int(iid))
        if self.jwt_app is None:
            raise HttpError(401, "A JSON web token could not be decoded")
        if app is None or app.app_id != self.jwt_app:
            raise HttpError(404, "Not Found")
        data = self._json()
        wanted: dict[str, str] = data.get("permissions") or dict(app.permissions)
        for perm, level in wanted.items():
            if perm not in _APP_PERMISSIONS or level not in LEVELS:
                raise HttpError(422, f"Invalid permission: {perm}")
            if LEVELS[level] > LEVELS.get(app.permissions.get(perm, "none"), 0):
                raise HttpError(422, "The permissions requested are not granted to this "
                                     "installation.")
        owner = app.repositories[0].split("/")[0]
        names = data.get("repositories")
        repos = app.repositories if names is None else tuple(f"{owner}/{n}" for n in names)
        if any(full not in app.repositories for full in repos):
            raise HttpError(422, "There is at least one repository that does not exist or "
                                 "is not accessible to the parent installation.")
        granted = {**wanted, **app.broaden, "metadata": "read"}
        token = self.gh.add_token("installation", permissions=granted, repositories=repos)
        expires = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
        return 201, {"token": token, "expires_at": expires, "permissions": granted,
                     "repository_selection": "selected",
                     "repositories": [self.gh.repo_json(self.gh.repos[f]) for f in repos
                                      if f in self.gh.repos]}, {}

    def ep_revoke_token(self) -> Result:
        if self.tok is None or self.tok.kind != "installation":
            raise HttpError(401, "Bad credentials")
        self.tok.revoked = True
        return 204, None, {}
