"""``python -m core serve`` (the HTTP API on uvicorn) and ``python -m core tokens create|list|revoke``."""

from __future__ import annotations

import json

from core import provenance, shared_models, start_worker, tokens, webhooks
from core.web.api import create_app

from .common import person_of, ranged


def add_parsers(commands) -> None:
    serve = commands.add_parser("serve", help="the HTTP API (FastAPI on uvicorn; docs at /docs)")
    serve.add_argument("--host", default="127.0.0.1", help="default 127.0.0.1: put a proxy in front for others")
    serve.add_argument("--port", type=int, default=8502)
    serve.add_argument("--worker", action="store_true",
                       help="also run the job queue in this process (without it, the dashboard's worker or a "
                            "`python -m core worker` runs the API's jobs)")

    held = commands.add_parser("tokens", help="your personal API tokens: create (shown once), list, revoke")
    actions = held.add_subparsers(dest="tokens_command", required=True, parser_class=commands._parser_class)
    create = actions.add_parser("create", help="a new token, printed once")
    create.add_argument("--name", default="token", help="what it is for (\"phone shortcut\", \"chat bot\")")
    create.add_argument("--days", type=ranged(float, 0.01, tokens.MAX_DAYS, "a number of days"), default=None,
                        help="how long it works (default: V2I_TOKEN_DAYS, 90)")
    listing = actions.add_parser("list", help="your tokens (never the tokens themselves)")
    revoke = actions.add_parser("revoke", help="revoke one of your tokens: it stops working at once")
    revoke.add_argument("id")
    for action in (create, listing, revoke):
        action.add_argument("--as", dest="person", default=None, metavar="NAME")
        action.add_argument("--json", action="store_true")


def _serve(args, settings, store) -> int:
    # Deferred: uvicorn and FastAPI load only for `serve`, and the models only with --worker.
    import uvicorn


    provenance.check_signing(settings)  # a key that cannot sign: refuse to start, naming the setting
    app = create_app(settings, store)
    if args.worker:
        app.state.worker = start_worker(settings, shared_models(settings))
    print(f"The API listens on http://{args.host}:{args.port}/api/v1 (docs: /docs)", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", proxy_headers=False)
    return 0


def _tokens(args, settings, store) -> int:
    person = person_of(args, settings, store)
    if args.tokens_command == "create":
        made = tokens.create(store, person, args.name, args.days or settings.token_days)
        print(json.dumps(made) if args.json else
              f"Your new token (shown only now; keep it secret): {made['token']}\n"
              f"Use it as: Authorization: Bearer {made['token']}\nIt works until {made['expires_at'][:16]} UTC.")
    elif args.tokens_command == "list":
        rows = tokens.listed(store, person)
        print(json.dumps(rows) if args.json else "\n".join(
            f"{r['id']}  {r['name']}  created {r['created_at'][:16]}  "
            f"last used {(r['last_used_at'] or 'never')[:16]}  "
            + (f"revoked {r['revoked_at'][:16]}" if r["revoked_at"] else
               f"expires {r['expires_at'][:16]}" if r["expires_at"] else "never expires") for r in rows)
              or "No tokens yet: python -m core tokens create")
    else:
        tokens.revoke(store, person, args.id)
        print(json.dumps({"revoked": args.id}) if args.json else f"Token {args.id} is revoked.")
    return 0


COMMANDS = {"serve": _serve, "tokens": _tokens}


def add_hook_parsers(commands) -> None:
    hooks = commands.add_parser("hooks", help="where to be told when your jobs end: webhooks and chat (apprise)")
    actions = hooks.add_subparsers(dest="hooks_command", required=True, parser_class=commands._parser_class)
    add = actions.add_parser("add", help="a webhook (https URL; its signing secret is printed once) or an apprise URL")
    add.add_argument("url")
    add.add_argument("--kind", choices=("webhook", "apprise"), default="webhook")
    add.add_argument("--team", action="store_true", help="for everyone's jobs (admins)")
    listing = actions.add_parser("list", help="your targets and the team's")
    remove = actions.add_parser("remove", help="stop telling a target")
    remove.add_argument("id")
    sent = actions.add_parser("deliveries", help="the latest deliveries: each one's status and a short reason")
    send = actions.add_parser("send", help="send the deliveries that are due, once, and exit (for cron, or to check "
                                           "a receiver)")
    for action in (add, listing, remove, sent, send):
        action.add_argument("--as", dest="person", default=None, metavar="NAME")
        action.add_argument("--json", action="store_true")


def _hooks(args, settings, store) -> int:
    person = person_of(args, settings, store)
    if args.hooks_command == "add":
        hook = webhooks.add(store, person, args.kind, args.url, team=args.team,
                            allow_local=settings.webhooks_allow_local)
        shown = {k: hook[k] for k in ("id", "kind", "url", "secret")}
        print(json.dumps(shown) if args.json else f"Added {hook['id']} for {hook['url']}" +
              (f"; its signing secret (shown only now): {hook['secret']}" if hook["secret"] else ""))
    elif args.hooks_command == "list":
        rows = webhooks.listed(store, person)
        print(json.dumps(rows) if args.json else "\n".join(
            f"{r['id']}  {r['kind']}  {r['target']}" + ("  (team)" if r["person"] is None else "") for r in rows))
    elif args.hooks_command == "remove":
        webhooks.remove(store, person, args.id)
        print(json.dumps({"removed": args.id}) if args.json else f"{args.id} is removed.")
    elif args.hooks_command == "send":
        sent = webhooks.Dispatcher(store, settings.public_url, allow_local=settings.webhooks_allow_local).send_due()
        print(json.dumps({"tried": sent}) if args.json else f"{sent} due {'delivery' if sent == 1 else 'deliveries'} "
                                                              "tried (hooks deliveries shows how each went)")
    else:
        rows = webhooks.deliveries(store, person)
        print(json.dumps(rows) if args.json else "\n".join(
            f"{r['job_id']}  {r['kind']}  {r['target']}  {r['state']} after {r['attempts']} "
            f"{'try' if r['attempts'] == 1 else 'tries'}  {r['reason'] or ''}" for r in rows))
    return 0


COMMANDS["hooks"] = _hooks
