"""Review: images someone else made, dealt one at a time, oldest first, without the maker's name or anyone's stars
until you have rated (blind), so every image gathers V2I_REVIEWS_PER_IMAGE ratings from different people."""

import streamlit as st

from core import names_of, review, roles
from ui import render, resources

resources.ensure_navigation()

store, person, settings = resources.store(), resources.person(), resources.settings()
per_image = settings.reviews_per_image
st.title("Review")
st.caption(f"Rate images others made without knowing who made them or how others rated them: that comes after "
           f"your stars. Each image is dealt until {per_image} different people have rated it, oldest first. "
           "Blind ratings are marked as such, and Insights can count them alone.")

if not roles.allowed(person, "rate"):
    st.info("Your role can look at the team's work but not rate it: ask an admin to make you a member.")
    st.stop()

shown = st.session_state.get("review-revealed")
if shown:  # 2. What the reviewer may see now that they have rated: the maker, and everyone's stars and notes.
    seen = review.revealed(store, shown)
    names = names_of(store, [seen["created_by"], *(r["person"] for r in seen["ratings"])])
    maker = names.get(seen["created_by"], "unknown")
    st.success(render.escape_markdown(f"Your rating is saved. The image was made by {maker}."))  # a name is text
    row = store.get_generation(shown)
    columns = st.columns([2, 3])
    with columns[0]:
        render.show_image_or_missing(store.file_path(row["image_path"]), alt=render.alt_text(row))
    with columns[1]:
        others = [r for r in seen["ratings"] if r["person"] != person.id]
        st.caption(f"Everyone's stars: {len(others)} other rating(s) besides yours." if others else
                   "Nobody else has rated it yet: yours is the first. Everyone's stars show here as they come.")
        st.dataframe([{"person": names.get(r["person"], r["person"]), "stars": r["stars"], "blind": bool(r["blind"]),
                       "note": r["note"] or ""} for r in seen["ratings"]], hide_index=True, width="stretch")
        st.page_link("pages/history.py", label="Open it in History", query_params={"id": shown},
                     icon=":material/open_in_new:")
    if st.button("Next image", type="primary", key="review-next"):
        del st.session_state["review-revealed"]
        st.rerun()
    st.stop()

# 1. The next image, with its words only: no maker, no stars.
progress = review.progress(store, person.id, per_image)
image = review.next_image(store, person.id, per_image)
if image is None:
    st.info(f"Nothing left for you to review: every image someone else made has {per_image} ratings, or yours. "
            f"You have given {progress.rated_blind} blind ratings.")
    st.stop()
st.caption(f"{progress.for_me} image(s) wait for your rating; {progress.needed} in all still need ratings.")
columns = st.columns([2, 3])
with columns[0]:
    render.show_image_or_missing(store.file_path(image["image_path"]), alt=render.alt_text(image))
with columns[1]:
    st.text(f"Prompt: {image['prompt']}")
    with st.form("review-form", clear_on_submit=True, enter_to_submit=False):
        stars = st.radio("Your stars", [1, 2, 3, 4, 5], index=None, horizontal=True, key="review-stars",
                         format_func=lambda n: "★" * n + f" ({n})")
        note = st.text_input("A short note (optional)", max_chars=500, key="review-note")
        rate_it = st.form_submit_button("Rate", type="primary")
        skip_it = st.form_submit_button("Skip this image")
if skip_it:
    review.skip(store, image["id"], person)
    st.rerun()
if rate_it:
    if stars is None:
        render.error("Choose 1 to 5 stars, or skip this image.")
    else:
        review.review(store, image["id"], person, stars, note or None)
        st.session_state["review-revealed"] = image["id"]
        st.rerun()
