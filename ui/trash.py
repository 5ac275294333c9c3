"""History's trash: moving generations to it (with a confirmation), and what is in it: restore, or empty it."""

from __future__ import annotations

import streamlit as st

from core import Person, Store, V2IError, names_of, roles, trash
from ui import render, resources

PICKED = "trash-picked"


def delete_with_confirmation(store: Store, person: Person, rows: list[dict], labels: dict) -> None:
    """Move generations to the trash (what this person may delete: their own; an admin's, anyone's)."""
    mine = [r["id"] for r in rows if roles.allowed(person, "delete", owner=r["created_by"])]
    if len(mine) < len(rows) and roles.allowed(person, "delete"):
        st.caption("Only its maker or an admin can move a generation to the trash: the list below holds yours.")
    if not mine:
        return
    if picked := st.session_state.get(PICKED):  # kept by id across colleagues' new rows; gone ones dropped
        st.session_state[PICKED] = [generation_id for generation_id in picked if generation_id in mine]
    to_delete = st.multiselect("Select generations to move to the trash", mine, format_func=labels.get, key=PICKED)
    if to_delete and st.button(f"Move {len(to_delete)} to the trash"):
        st.session_state["confirm_delete"] = list(to_delete)
    pending = st.session_state.get("confirm_delete")
    if pending:
        st.warning(f"Move {len(pending)} generation(s) to the trash? They can be restored for "
                   f"{resources.settings().trash_days:g} days, then they are erased for good.")
        confirm, cancel = st.columns(2)
        if confirm.button("Yes, move them to the trash", type="primary"):
            for generation_id in pending:
                try:
                    trash.delete(store, generation_id, person)
                except V2IError as err:
                    render.error(str(err))
            st.session_state.pop("confirm_delete")
            st.rerun()
        if cancel.button("Keep them"):
            st.session_state.pop("confirm_delete")
            st.rerun()


def trash_view(store: Store, person: Person) -> None:
    """What is in the trash: who made it, who deleted it and when, when it goes for good; restore what this
    person may (their own; an admin, anything), and an admin may empty it."""
    days = resources.settings().trash_days
    items = trash.items(store, days)
    with st.expander(f"Trash ({len(items)})", expanded=False):
        if not items:
            st.caption("The trash is empty.")
            return
        who = names_of(store, [i["created_by"] for i in items] + [i["deleted_by"] for i in items])
        st.dataframe([{"id": i["generation_id"], "transcript": i["transcript"],
                       "made by": who.get(i["created_by"], i["created_by"]),
                       "deleted by": who.get(i["deleted_by"], i["deleted_by"]), "deleted": i["deleted_at"][:19],
                       "erased after": i["purge_at"][:10]} for i in items], hide_index=True, width="stretch")
        mine = [i["generation_id"] for i in items if roles.allowed(person, "restore", owner=i["created_by"])]
        if mine:
            chosen = st.selectbox("Restore", mine, format_func=lambda i: next(
                f"{x['deleted_at'][:19]}  {(x['transcript'] or '')[:50]}" for x in items if x["generation_id"] == i))
            if st.button("Restore it", key="trash-restore"):
                try:
                    trash.restore(store, chosen, person)
                    st.rerun()
                except V2IError as err:
                    render.error(str(err))
        if roles.allowed(person, "empty trash"):
            if st.button("Empty the trash (erase all for good)", key="trash-empty"):
                trash.empty(store, person)
                st.rerun()
