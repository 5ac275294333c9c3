"""Spoken words into prompt words, in plain rules and data (no language model): drop fillers, stutters, false
starts and the conversational frame before the subject ("I want a picture of", "can you draw", "please"...),
in English, French, German and Spanish; keep names, numbers and the speaker's order otherwise. The transcript
itself is never changed: this makes the text the prompt is built from, and says what it removed.

And a guard against whisper's well-known hallucinations on near-silent audio ("Thanks for watching!").
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from ..errors import InvalidOptionError
from .prompt import enhance_prompt, estimate_tokens

# Fillers and hesitations, any language (whole words; "like" only where it is set off as a filler).
FILLERS = {
    "en": ["um+", "uh+", "u+h+m+", "er+m*", "ah+", "hm+", "mhm", "you know", "i mean", "like(?=,)", "(?<=, )like"],
    "fr": ["euh+", "heu+", "bah", "ben", "hein", "genre(?=,)"],
    "de": ["äh+m*", "öh+m*", "hm+", "halt(?=,)"],
    "es": ["eh+", "em+", "este(?=,)", "o sea"],
}
# Conversational frames before the subject, tried again and again at the start ("so, um, can you draw me...").
_EN_FRAMES = [
    r"(?:and|so|okay|ok|well|right|alright|now|hey|oh|yeah|yes)\b",
    r"please\b", r"(?:could|can|would|will) you(?: please)?(?: just)?(?: (?:draw|paint|make|show|create|generate|"
    r"give|sketch|render|do|imagine))?(?: me| us)?(?: (?:a|an) (?:picture|image|drawing|painting|photo|sketch) of)?",
    r"(?:i(?:'d| would)? (?:like|love|want)|i wanna|we(?:'d)? (?:like|want)) (?:to (?:see|have|get) )?"
    r"(?:(?:a|an) (?:picture|image|drawing|painting|photo|illustration|sketch|render) of)?",
    r"(?:please )?(?:draw|paint|make|show|create|generate|give|sketch|render|imagine)(?: me| us)?"
    r"(?: (?:a|an) (?:picture|image|drawing|painting|photo|illustration|sketch|render) of)?",
    r"(?:a|an) (?:picture|image|drawing|painting|photo|illustration|sketch|render) of",
    r"(?:it|that|this|there) (?:has to|should|must|needs to|would|will|could) be",
    r"(?:how about|what about|let's see|let's have|let's do|let me see|imagine)",
    r"(?:there is|there's|there are)",
]
FRAMES = {
    "en": _EN_FRAMES,
    "fr": [
        r"(?:et|alors|donc|bon|bah|ben|oui|ok|okay|voilà)\b", r"s'il (?:te|vous) pla[iî]t",
        r"(?:est-ce que )?(?:tu peux|vous pouvez|peux-tu|pouvez-vous|pourrais-tu|pourriez-vous)"
        r"(?: me)?(?: (?:dessiner|peindre|faire|montrer|créer|générer))?(?:-moi)?",
        r"(?:je (?:veux|voudrais|aimerais)|j'aimerais|j'veux) (?:voir )?",
        r"(?:dessine|peins|fais|montre|crée|génère|dessinez|faites|montrez)(?:-moi| moi)?",
        r"(?:une|un) (?:image|photo|dessin|peinture|illustration|tableau) (?:de|d'|du|des)",
        r"(?:il faut|il y a|ça doit être|ce serait)",
    ],
    "de": [
        r"(?:und|also|so|okay|ok|ja|na|nun)\b", r"bitte\b",
        r"(?:kannst du|könntest du|können sie|könnten sie)(?: mir)?(?: bitte)?",
        r"(?:ich (?:möchte|will|hätte gern|hätte gerne|würde gern|würde gerne)(?: gern| gerne)?)",
        r"(?:zeichne|male|mach|mache|zeig|zeige|erstelle|generiere)(?: mir| uns)?(?: bitte)?",
        r"(?:ein|eine|einen) (?:bild|foto|zeichnung|gemälde|illustration) (?:von|vom|von einem|von einer)",
        r"(?:es sollte|es soll|das soll|da ist|es gibt|da sind)(?: sein)?",
        r"(?:sehen)\b",
    ],
    "es": [
        r"(?:y|entonces|bueno|pues|vale|sí|ok|okay|oye)\b", r"por favor\b",
        r"(?:puedes|podrías|puede|podría)(?: tú| usted)?(?: (?:dibujar|pintar|hacer|mostrar|crear|generar))?(?:me| me)?",
        r"(?:quiero|quisiera|me gustaría)(?: ver)?",
        r"(?:dibuja|pinta|haz|muestra|crea|genera|dibújame|muéstrame|hazme|píntame)(?:me| me)?",
        r"(?:una|un) (?:imagen|foto|dibujo|pintura|ilustración|cuadro) (?:de|del)",
        r"(?:tiene que ser|debería ser|hay)",
    ],
}
# Verbs a German request leaves at the end ("kannst du mir einen Hund zeichnen").
TRAILING = {
    "en": [r"please"],
    "fr": [r"s'il (?:te|vous) pla[iî]t"],
    "de": [r"(?:zeichnen|malen|machen|zeigen|erstellen|generieren|sehen)(?: bitte)?", r"bitte"],
    "es": [r"por favor"],
}
ARTICLES = {"a", "an", "the", "un", "une", "le", "la", "les", "des", "ein", "eine", "einen", "der", "die", "das",
            "el", "los", "las", "una", "unos", "unas"}


@dataclass(frozen=True)
class CleanedSpeech:
    text: str  # what the prompt is built from
    removed: tuple[str, ...] = field(default_factory=tuple)  # what was taken out, in order, for the person to see

    @property
    def note(self) -> str:
        return f"left out of the prompt: {'; '.join(self.removed)}" if self.removed else ""


def _language(language: str | None) -> list[str]:
    """The rule sets to apply: the detected language's, and English's (people mix them)."""
    code = (language or "en").lower()[:2]
    return [code, "en"] if code in FRAMES and code != "en" else ["en"]


def clean_speech(text: str, language: str | None = "en") -> CleanedSpeech:
    """The words to make a prompt from: fillers, stutters, false starts and the leading frame dropped."""
    removed: list[str] = []
    languages = _language(language)
    words = " ".join(text.split())

    # 1. Fillers and hesitations, wherever they are.
    for code in languages:
        for filler in FILLERS[code]:
            pattern = re.compile(fr"(?i)(?<![\w'-])(?:{filler})(?![\w'-])[,.…]*")
            for found in pattern.findall(words):
                removed.append(found.strip(" ,.…"))
            words = pattern.sub(" ", words)
    # 2. False starts whisper marks with a dash or an ellipsis ("a red- a blue car", "a red... a blue car"),
    #    with the article that began them.
    article = "|".join(sorted(ARTICLES, key=len, reverse=True))
    false_start = re.compile(fr"(?i)(?<!\S)(?:(?:{article})\s+)?\w+(?:-|—|–|\.\.\.|…)(?=\s)")
    removed.extend(false_start.findall(words))
    words = false_start.sub(" ", words)
    # 3. Stutters: a word or two said twice ("the the", "a red, a red fox").
    stutter = re.compile(r"(?i)\b(\w+(?: \w+)?)(?:,? \1\b)+")
    for found in stutter.finditer(words):
        removed.append(found.group(0)[: len(found.group(0)) - len(found.group(1))].strip(" ,") or found.group(1))
    words = stutter.sub(r"\1", words)
    words = _tidy(words)

    # 4. The frame before the subject, tried until nothing more comes off the front; and "please" at the end.
    #    A request is often a question: its marks go ("¿Puedes dibujar...?").
    words = words.lstrip("¿¡ ").rstrip("?!¿¡ ")
    changed = True
    while changed:
        changed = False
        for code in languages:
            for frame in FRAMES[code]:
                match = re.match(fr"(?i)(?:{frame})[\s,.:;!?-]*", words)
                if match and match.end() > 0 and words[match.end():].strip():
                    removed.append(match.group(0).strip(" ,.:;!?-"))
                    words, changed = words[match.end():], True
    for code in languages:
        for trailing in TRAILING[code]:
            match = re.search(fr"(?i)[\s,]+(?:{trailing})[\s.!?]*$", words)
            if match and words[:match.start()].strip():
                removed.append(match.group(0).strip(" ,.!?"))
                words = words[:match.start()].rstrip("?!¿¡ ")
    words = _tidy(words)

    # 5. Never lose the content: if nothing is left but articles, the speech is kept as it was.
    if not [w for w in re.findall(r"\w+", words.lower()) if w not in ARTICLES]:
        return CleanedSpeech(" ".join(text.split()))
    return CleanedSpeech(words, tuple(r for r in removed if r))


def _tidy(text: str) -> str:
    text = re.sub(r"\s+([,.;:!?])", r"\1", " ".join(text.split()))
    text = re.sub(r"([,;:])(?:\s*[,;:])+", r"\1", text)
    return text.strip(" ,;:-")


def speech_prompt(text: str, language: str | None, style: str, *, negative_prompt: str | None = None,
                  count_tokens=None):
    """The prompt made from spoken words: cleaned (:func:`clean_speech`), then enhanced in ``style``. Returns the
    enhanced prompt and what cleaning left out; the one path from a transcript to a prompt, for the pipeline
    and the Generate page alike."""
    spoken = clean_speech(text, language)
    enhanced = enhance_prompt(spoken.text, style, negative_prompt=negative_prompt,
                              count_tokens=count_tokens or estimate_tokens)
    return enhanced, spoken


# -- a team's vocabulary: names and jargon whisper should spell right -----------------------------------------------

MAX_TERMS = 100
MAX_TERM = 60
MAX_PROMPT_CHARS = 600  # whisper reads at most 224 tokens of prompt: keep well inside


def check_terms(terms) -> tuple[str, ...]:
    """Distinct terms (names, products, jargon), each 1 to 60 characters, at most 100 and 600 characters in all."""
    cleaned = list(dict.fromkeys(" ".join(str(t).split()) for t in terms if str(t).strip()))
    for term in cleaned:
        if len(term) > MAX_TERM:
            raise InvalidOptionError(f"the term {term[:40]!r}... is {len(term)} characters long: at most {MAX_TERM}")
        if any(ord(ch) < 32 for ch in term):
            raise InvalidOptionError(f"the term {term[:40]!r} has control characters in it")
    if len(cleaned) > MAX_TERMS or sum(len(t) + 2 for t in cleaned) > MAX_PROMPT_CHARS:
        raise InvalidOptionError(f"the vocabulary is too long for whisper's prompt: at most {MAX_TERMS} terms "
                                 f"and {MAX_PROMPT_CHARS} characters in all")
    return tuple(cleaned)


def whisper_prompt(terms) -> str | None:
    """Whisper's initial prompt for a vocabulary: it conditions the spelling of what follows."""
    return f"Glossary: {', '.join(terms)}." if terms else None


# -- whisper's hallucinations --------------------------------------------------------------------------------------

# What whisper says over silence and noise, learnt from subtitles (lower case, without punctuation).
HALLUCINATIONS = {
    "thanks for watching", "thank you for watching", "thank you", "thanks", "thank you so much for watching",
    "please subscribe", "subscribe to my channel", "like and subscribe", "see you next time", "bye", "bye bye",
    "you", "the end", "music", "applause", "silence", "subtitles by the amaraorg community",
    "merci", "merci davoir regardé", "sous-titrage st 501", "sous-titres réalisés para la communauté damaraorg",
    "untertitel im auftrag des zdf", "untertitel der amaraorg-community", "vielen dank", "danke",
    "gracias", "gracias por ver", "subtítulos realizados por la comunidad de amaraorg",
}
NEAR_SILENT_RMS = 0.004  # about -48 dBFS: breathing and room noise, no voice
DOUBTFUL_NO_SPEECH = 0.5


def doubt(transcript_text: str, no_speech_prob: float | None, rms: float) -> str:
    """Why this transcript is probably not what was said ("" when it looks fine): near-silent audio, or one of
    whisper's known hallucination phrases heard with a high no-speech probability."""
    if rms < NEAR_SILENT_RMS:
        return (f"the recording is nearly silent (level {20 * math.log10(max(rms, 1e-9)):.0f} dBFS), "
                f"so {transcript_text!r} is probably whisper's guess, not what was said")
    phrase = re.sub(r"[^\w\s-]", "", transcript_text.lower()).strip()
    phrase = " ".join(phrase.split())
    if phrase in HALLUCINATIONS and (no_speech_prob is None or no_speech_prob != no_speech_prob
                                     or no_speech_prob >= DOUBTFUL_NO_SPEECH):
        return (f"{transcript_text!r} is a phrase whisper often invents over silence or noise, and it was not sure "
                "anyone spoke")
    return ""
