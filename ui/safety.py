"""Keeping the team's work safe, on the pages: the audit trail for admins."""

from __future__ import annotations

from datetime import datetime, timezone

import streamlit as st

from core import Person, V2IError, audit, names_of, provenance, roles, aggregates, tokens, webhooks

from . import render


def audit_trail(store, person: Person) -> None:
    """Admins: who did what, when, from where, newest first, filtered by person and action."""
    if not roles.allowed(person, "audit"):
        return
    with st.expander("Audit trail (admins)"):
        left, right = st.columns(2)
        who = left.text_input("Person (id or email)", key="audit-who").strip() or None
        action = right.selectbox("Action", audit.ACTIONS, index=None, key="audit-action", placeholder="any")
        rows = audit.trail(store, who=who, action=action, limit=500)
        names = names_of(store, [r["who"] for r in rows])
        st.dataframe([{"when": r["at"][:19], "who": names.get(r["who"], r["who"]), "from": r["source"],
                       "what": r["action"], "target": r["target"], "detail": r["detail"]} for r in rows],
                     hide_index=True, width="stretch")
        st.caption("Append-only: the database refuses any change to these rows. "
                   "On the command line: python -m core audit --json")


def backup_status(store, settings) -> None:
    """The last backup's result, or how to set scheduled backups up."""
    last = audit.trail(store, action="backup", limit=1)
    if not last:
        st.caption("No backup yet. Scheduled backups: set V2I_BACKUP_DIR (see README, \"Keeping the team's work "
                   "safe\"); or run python -m core backup DEST.")
        return
    row = last[0]
    failed = (row["detail"] or "").startswith("failed")
    text = f"Last backup {row['at'][:16].replace('T', ' ')} UTC into {row['target']}: {row['detail']}"
    (st.error if failed else st.caption)(render.escape_markdown(text))


def queue_controls(queue, person: Person) -> None:
    """Admins: pause or resume the queue, and move a queued job to the front."""
    if not roles.allowed(person, "queue"):
        return
    with st.expander("The queue (admins)"):
        paused = queue.paused
        if paused:
            st.warning("The queue is paused: running jobs finish, no new one starts.")
        if st.button("Resume the queue" if paused else "Pause the queue", key="queue-pause"):
            queue.set_paused(not paused, person)
            st.rerun()
        order = queue.order()
        if order:
            names = names_of(queue.store, [job["created_by"] for job in order])
            chosen = st.selectbox("Queued jobs, in the order they will run", [job["id"] for job in order],
                                  format_func=lambda i: next(f"{n}. {names.get(j['created_by'], j['created_by'])} "
                                                             f"({j['recipe'] or 'default'}, queued {j['created_at'][:19]})"
                                                             for n, j in enumerate(order, 1) if j["id"] == i),
                                  key="queue-job")
            if st.button("Move it to the front", key="queue-front"):
                queue.move_to_front(chosen, person)
                st.rerun()


def storage(store) -> None:
    """The data folder's size per person and per kind (images, audio, database)."""
    held = aggregates.storage(store)
    names = names_of(store, list(held["people"]))
    mb = 2 ** 20
    with st.expander("Storage"):
        st.text(f"Database: {held['database'] / mb:.1f} MB")
        st.dataframe([{"person": names.get(who, who), "images MB": round(sizes["images"] / mb, 1),
                       "audio MB": round(sizes["audio"] / mb, 1)}
                      for who, sizes in sorted(held["people"].items())], hide_index=True)


def provenance_status(settings) -> None:
    """Whether the images carry a signed C2PA manifest, or the XMP AI label alone."""
    try:
        key = provenance.signing_key(settings)
    except V2IError as err:
        st.error(render.escape_markdown(f"Images cannot be signed: {err}."))
        return
    st.caption("Every image says it was made by an AI model (XMP digital source type)"
               + (", and carries a C2PA manifest signed with the team's key." if key else
                  "; no C2PA signing key is configured (V2I_C2PA_CERT, V2I_C2PA_KEY), so it carries no signed "
                  "manifest."))


def shown_once(key: str, title: str) -> None:
    """A secret the last click made (kept in the session for one rerun), shown this once."""
    if secret := st.session_state.pop(key, None):
        st.success(title)
        st.code(secret, language=None)


def account_panel(store, person: Person, days: float = 90) -> None:
    """This person's API tokens: create one (shown once, working for ``days`` days: V2I_TOKEN_DAYS), see them,
    revoke one."""
    with st.expander("Account: API tokens"):
        shown_once("new-token", "Your new token, shown only now (keep it secret):")
        name = st.text_input("What the new token is for", value="phone shortcut", key="token-name")
        if st.button("Create a token", key="token-create"):
            try:
                st.session_state["new-token"] = tokens.create(store, person, name, days)["token"]
                st.rerun()
            except V2IError as err:
                render.error(str(err))
        now = datetime.now(timezone.utc).isoformat()
        live = [t for t in tokens.listed(store, person) if not t["revoked_at"] and (t["expires_at"] or "~") > now]
        for token in live:
            left, right = st.columns([3, 1])
            left.text(f"{token['name']} (created {token['created_at'][:10]}, last used "
                      f"{(token['last_used_at'] or 'never')[:10]}, expires {(token['expires_at'] or 'never')[:10]})")
            if right.button("Revoke", key=f"token-revoke-{token['id']}"):
                tokens.revoke(store, person, token["id"])
                st.rerun()
        st.caption("Use a token as Authorization: Bearer TOKEN with the HTTP API (python -m core serve, /docs).")


def notifications_panel(store, person: Person, allow_local: bool = False) -> None:
    """Where this person is told that their jobs ended (webhooks, chat), and the latest deliveries."""
    with st.expander("Account: notifications"):
        shown_once("new-hook", "Added. Its full address and signing secret, shown only now:")
        kind = st.radio("Kind", webhooks.KINDS, horizontal=True, key="hook-kind",
                        format_func={"webhook": "a webhook (https)", "apprise": "chat (Slack, Teams, Matrix, email...)"}.get)
        url = st.text_input("Address", key="hook-url", placeholder="https://... or slack://...")
        if st.button("Tell it when my jobs end", key="hook-add") and url:
            try:
                hook = webhooks.add(store, person, kind, url, allow_local=allow_local)
                st.session_state["new-hook"] = hook["url"] + (f"\nsecret: {hook['secret']}" if hook["secret"] else "")
                st.rerun()
            except V2IError as err:
                render.error(str(err))
        for hook in webhooks.listed(store, person):
            left, right = st.columns([3, 1])
            left.text(f"{hook['kind']}: {hook['target']}" + (" (the team's)" if hook["person"] is None else ""))
            if hook["person"] == person.id and right.button("Remove", key=f"hook-remove-{hook['id']}"):
                webhooks.remove(store, person, hook["id"])
                st.rerun()
        if sent := webhooks.deliveries(store, person, limit=10):
            st.dataframe([{"job": d["job_id"][:8], "to": d["target"], "state": d["state"], "tries": d["attempts"],
                           "answer": d["last_status"], "reason": d["reason"]} for d in sent], hide_index=True)
