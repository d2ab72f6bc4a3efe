"""Provider simulator: OpenAI Chat Completions, Anthropic Messages and Gemini generateContent on one port.

Run it with `python -m local.simulator --port 8090` (binds 127.0.0.1 unless `--host` says otherwise), or
build the ASGI app with `create_app()`. It imports nothing from `shared`: it is written from providers.md
and the recorded traffic, independently of the gateway's adapters, so agreement between the two is evidence.

Endpoints (exact wire formats of providers.md sections 1-3 and 8)
  POST /v1/chat/completions                    OpenAI; `Authorization: Bearer <key>`; `"stream": true` for SSE
  POST /v1/messages                            Anthropic; `x-api-key` (or Bearer) and `anthropic-version`
  POST /v1beta/models/{model}:generateContent  Gemini; `x-goog-api-key` header or `?key=`
  POST /v1beta/models/{model}:streamGenerateContent   `?alt=sse`: SSE (CRLF CRLF); without: one JSON array
Any non-empty key is accepted (and never logged: `?key=` is redacted from access logs). A missing key gets
the provider's own auth error (OpenAI 401, Anthropic 401, Gemini 400 INVALID_ARGUMENT / API_KEY_INVALID);
a missing `anthropic-version` a 400.

Models: accepted by name pattern (see `models.py`): OpenAI `gpt-`, `chatgpt-`, `o<digit>`; Anthropic
`claude-[<version>-]<opus|sonnet|haiku|instant>[-...]` or `claude-<n>[.<m>]`; Gemini `gemini-`, `gemma-`.
Others get the provider's 404. OpenAI reasoning models reject `stop` (o1-mini, o3, o4-mini) and
`max_tokens` (o-series) with 400 `unsupported_parameter`, as the real API does.

Answers are deterministic functions of the request body: a tool call when tools are offered, tool choice is
not none and the last message is not a tool result (the forced tool, else the first; arguments generated
from its JSON schema), else text echoing the first words of the last user text plus `#<8 hex of the request
digest>`. Usage is estimated (ceil(chars/4) per message + 4, + 3 per request) in each provider's format.

Directives
  A tag in the last user message that has text (OpenAI: role user; Anthropic: a user message with text, so
  tool results alone do not count; Gemini: a user content with a text part) steers the reply:

      [sim latency_ms=200 ttft_ms=50 chunks=5 chunk_gap_ms=10 status=429 kind=rate_limit retry_after=2]
      [sim error_after=2 kind=overloaded]   [sim cut_after=3]   [sim text="Hi \\"there\\"" finish=length]

  Grammar:  tag := "[sim" (WS+ name "=" value)* WS* "]"
            name := [a-z_]+      value := bare | quoted
            bare := one or more characters other than whitespace, `]` and `"`
            quoted := `"` ... `"` with backslash escapes (`\\"`, `\\\\`, `\\n`, `\\t`)
  Several tags merge left to right (a repeated name: the last wins); tags are removed from the echoed text.
  An unknown name, a bad value or an unterminated tag is a 400 in the provider's envelope.

  name                range        effect
  latency_ms          0..600000    wait before the response starts (headers), errors included
  ttft_ms             0..600000    streams: wait between the headers and the first event
  chunks              1..1000      streams: text and tool arguments split into this many deltas (default 4)
  chunk_gap_ms        0..60000     streams: wait between events
  status              400..599     answer with this HTTP error (kind from the status unless given)
  kind                see below    error kind; alone: its usual status; with error_after: the in-stream error
  retry_after         0..86400     seconds: OpenAI/Anthropic `retry-after` (OpenAI also `retry-after-ms`),
                                   Gemini `RetryInfo.retryDelay` (with QuotaFailure on 429; a Gemini 429
                                   without retry_after is the recorded detail-less body)
  error_after         0..10000     streams: after N events send the provider's error event and end without
                                   the completion marker (OpenAI `data: {"error":...}`, Anthropic
                                   `event: error`, Gemini `data: {"error":...}`); non-streams: an HTTP error
  cut_after           0..10000     streams: drop the connection after N events (no completion marker);
                                   non-streams: send the headers and half the body, then drop
  text                string       reply with exactly this text (no tool call)
  calls               1..16        number of tool calls (cycling through the tools; 1 when parallel calls
                                   are disabled)
  finish              stop | length | content_filter | blocked   force the finish reason; blocked: the
                                   prompt is refused (OpenAI `refusal` text, Anthropic stop_reason refusal
                                   with no content, Gemini 200 with promptFeedback.blockReason and no candidates)
  cached_tokens       0..10^7      report that many prompt tokens as cache reads
  cache_write_tokens  0..10^7      report that many prompt tokens as cache writes (Anthropic only shows it)
  reasoning_tokens    0..10^7      report that many reasoning tokens (inside the output count)

  Kinds and their statuses (OpenAI / Anthropic / Gemini):
    rate_limit      429 rate_limit_exceeded / 429 rate_limit_error / 429 RESOURCE_EXHAUSTED
    quota           429 insufficient_quota / 402 billing_error / 429 RESOURCE_EXHAUSTED (per-day quota id)
    overloaded      503 / 529 overloaded_error / 503 UNAVAILABLE
    server_error    500 server_error / 500 api_error / 500 INTERNAL
    auth            401 invalid_api_key / 401 authentication_error / 400 INVALID_ARGUMENT API_KEY_INVALID
    permission      403 / 403 permission_error / 403 PERMISSION_DENIED
    not_found       404 model_not_found / 404 not_found_error / 404 NOT_FOUND
    invalid_request 400 / 400 invalid_request_error / 400 INVALID_ARGUMENT
    context_length  400 context_length_exceeded / 400 "prompt is too long" / 400 "input token count"
    timeout         408 / 504 timeout_error / 504 DEADLINE_EXCEEDED
  `status` without `kind` picks the kind from the status (429 rate_limit, 503/529 overloaded, 401 auth, ...).
  `status` wins over `error_after`; `error_after` wins over `cut_after`. "Events" are SSE events (Gemini
  array mode: array elements), counted from the first (OpenAI role chunk, Anthropic message_start); N is
  clamped so the completion marker ([DONE], message_stop, the finishReason chunk) is never sent.

Layers: admin defaults < request tags < the rule for the request's API key. Default and key-rule faults
(`status`/`kind`) apply before the body is validated, like the real APIs' auth and rate limiting.

Admin API (JSON; directive values validated like tags)
  GET    /_sim/health                        {"ok": true}
  GET    /_sim/stats                         {"calls": {"openai.chat": 3, "gemini.stream": 1, ...}, "total",
                                             "statuses": {"200": 3, ...}, "key_fingerprints": [...],
                                             "calls_by_key": {fingerprint: n}}
  POST   /_sim/reset                         defaults, key rules and statistics cleared
  GET|PUT|DELETE /_sim/defaults              read / replace / clear the default directives
  POST   /_sim/keys {"key": "...", ...}      rule for one key (directive names) -> {"fingerprint": ...};
                                             with "times": N it applies to the key's next N requests only
  GET    /_sim/keys                          {"rules": {fingerprint: {...}}}
  DELETE /_sim/keys                          clear all rules;  DELETE /_sim/keys/{fingerprint}: one rule
  Keys are kept only as SHA-256 digests; fingerprints are the first 12 hex characters. Routes for the
  statistics: openai.chat, anthropic.messages, gemini.generate, gemini.stream.
"""

from __future__ import annotations

from local.simulator.app import create_app

__all__ = ["create_app"]
