"""The Insights page's Agreement tab: whether the team's raters agree (Krippendorff's alpha, in plain words),
overall, per month and per pair; each rater's offset; the images raters disagree on most; the preference data."""

from __future__ import annotations

import streamlit as st

from core import Store, preferences
from ui import render


def _alpha_row(agreement) -> dict:
    return {"alpha": agreement.alpha,
            "95% interval": None if agreement.lo is None else f"[{agreement.lo:.2f}, {agreement.hi:.2f}]",
            "images": agreement.n_items, "raters": agreement.n_raters, "in words": agreement.reading}


def agreement_panel(store: Store, report) -> None:
    team = report.agreement
    overall = team.overall
    st.caption(f"Krippendorff's alpha (ordinal) over {report.reading.words}, on images rated by two people or "
               "more; 1 is perfect agreement, 0 is what chance gives. From 0.8 the team agrees well, from 0.667 "
               "somewhat (Krippendorff's own marks). The interval resamples the images (1,000 bootstrap draws).")
    if overall.alpha is None:
        st.info(f"{overall.reading.capitalize()}: run a blind review round on the Review page, so that each image "
                "gets ratings from several people.")
    else:
        st.metric("Agreement (alpha)", f"{overall.alpha:.2f}", help=f"95% interval [{overall.lo:.2f}, {overall.hi:.2f}]")
        st.markdown(render.escape_markdown(
            f"**{overall.reading.capitalize()}**: alpha {overall.alpha:.2f}, 95% interval [{overall.lo:.2f}, "
            f"{overall.hi:.2f}], over {overall.n_items} images and {overall.n_raters} raters."))
    if team.periods:
        st.subheader("By month the images were made")
        st.dataframe([{"month": month, **_alpha_row(a)} for month, a in team.periods.items()], hide_index=True,
                     width="stretch")
    if team.pairs:
        st.subheader("By pair of raters")
        st.dataframe([{"raters": f"{a} and {b}", **_alpha_row(g)} for (a, b), g in team.pairs.items()],
                     hide_index=True, width="stretch")
    raters(report)
    disagreements(team.disagreements)
    st.subheader("Preference data")
    st.caption("Every A/B or sweep vote, and every two blind ratings by one person of the same recording's images "
               "two stars or more apart, as (prompt, chosen image, rejected image, who, how) pairs: a Hugging Face "
               "image dataset (metadata.jsonl and images/) for reward models or Diffusion-DPO. Nobody's judgement "
               "of their own image is included.")
    st.download_button("Download the preference data (ZIP)", lambda: preferences.preferences_zip(store),
                       file_name="preferences.zip", mime="application/zip", key="preferences-zip",
                       icon=":material/download:")


def raters(report) -> None:
    st.subheader("Each rater's offset")
    st.caption("How many stars harsher (-) or kinder (+) than the team each person is on the same images, from an "
               "additive model (stars = image + rater); \"Adjust for each rater\" above reads every mean without it.")
    if not report.raters:
        st.caption("No ratings yet.")
        return
    st.dataframe([{"person": r.person, "offset (stars)": r.offset,
                   "95% interval": None if r.lo is None else f"[{r.lo:+.2f}, {r.hi:+.2f}]",
                   "ratings on shared images": r.ratings} for r in report.raters],
                 hide_index=True, width="stretch", column_config={
                     "offset (stars)": st.column_config.NumberColumn(format="%+.2f")})


def disagreements(rows: list[dict]) -> None:
    st.subheader("Images the raters disagree on most")
    if not rows:
        st.caption("None yet: no image has ratings that differ.")
        return
    st.dataframe([{"stars given": ", ".join(map(str, d["stars"])), "spread": d["spread"], "raters": d["raters"],
                   "open": f"history?id={d['generation_id']}"} for d in rows], hide_index=True, width="stretch",
                 column_config={"open": st.column_config.LinkColumn(display_text="open")})
