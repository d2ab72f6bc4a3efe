"""`make run` serves the keys API beside the chat API on one port: a user's key stored over HTTP is used by
that user's next chat call at once (the usage event names it), and is never shown again."""

from __future__ import annotations

from pathlib import Path

import httpx2

from tests.conformance.conftest import launch_gateway, read_events

USER_KEY = "sk-conformance-user-openai-key-0001"


def test_a_key_stored_over_http_pays_for_the_users_next_call(tmp_path: Path) -> None:
    with launch_gateway(tmp_path) as gateway:
        as_user = {"authorization": f"Bearer {gateway.key}", "x-user-id": "alice"}
        with httpx2.Client(base_url=gateway.url, headers=as_user, timeout=15.0) as http:
            stored = http.post("/api/ai/keys", json={"name": "mine", "provider": "openai", "apiKey": USER_KEY})
            assert stored.status_code == 201, stored.text
            key_id = stored.json()["id"]
            listed = http.get("/api/ai/keys")
            assert [k["id"] for k in listed.json()["keys"]] == [key_id]
            assert USER_KEY not in stored.text + listed.text
            chat = http.post(
                "/v1/chat/completions",
                json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello"}]},
            )
            assert chat.status_code == 200, chat.text
            assert chat.headers["x-gateway-provider"] == "OPENAI"
            # Bob has no key of his own: the platform (the simulator's) key serves him.
            bob = http.post(
                "/v1/chat/completions",
                json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello"}]},
                headers={"x-user-id": "bob"},
            )
            assert bob.status_code == 200
    events = read_events(gateway)
    paid = {e["user"]: e["credential_id"] for e in events}
    assert paid["alice"] == key_id
    assert paid["bob"].startswith("platform:")
    assert all(
        USER_KEY not in p.read_text() for p in gateway.data_dir.rglob("*") if p.is_file() and p.suffix != ".sqlite3"
    )
