"""Generated answers as they stream: each sentence checked as it completes, then the whole answer assembled.

The sentences come from the configured OpenAI-compatible server (generative.py) and are checked against the
passages they cite (grounding.py). Without a server the answer is the extractive one; when generation fails or
no sentence is supported, it is the extractive one with a `FALLBACK` note saying why. See README, "Generative
answers".
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace

from qa_app.answer import NOT_ANSWERED
from qa_app.generative import GenerationError, LLMConfig, build_messages, stream_chat
from qa_app.grounding import SentenceBuffer, SupportChecker, is_refusal
from qa_app.records import FALLBACK, UNSUPPORTED, Answer, AnswerSentence, Note


def fallback_note(reason: str) -> Note:
    """The note of an extractive answer given because the generative server failed (`reason`)."""
    return Note(FALLBACK, f"The generative model was unavailable ({reason}); this answer is extractive.")


UNSUPPORTED_NOTE = Note(
    FALLBACK, "No sentence of the generated answer was supported by the passage it cites; this answer is extractive."
)


class AnswerStream:
    """Checked sentences as the model writes them; `answer` when the stream is done (it drains what is left).

    Without a configured server, or when generation fails, the stream yields nothing and `answer` is the
    extractive answer (with a note saying why, when generation was tried).
    """

    def __init__(
        self, extractive: Answer, config: LLMConfig | None, checker: SupportChecker | None = None,
        history: Sequence[str] = (), max_sentences: int = 4, drop_unsupported: bool = False,
    ) -> None:  # fmt: skip
        self.extractive, self.config, self.checker = extractive, config, checker
        self.history, self.max_sentences = history, max_sentences
        self.drop_unsupported = drop_unsupported  # leave unsupported sentences out instead of marking them
        self.sentences: list[AnswerSentence] = []
        self._answer: Answer | None = None
        self._events = self._run()

    def __iter__(self) -> Iterator[AnswerSentence]:
        return self._events

    @property
    def answer(self) -> Answer:
        for _ in self._events:
            pass
        assert self._answer is not None
        return self._answer

    def _run(self) -> Iterator[AnswerSentence]:
        if self.config is None or self.checker is None or not self.extractive.passages:
            self._answer = self.extractive
            return
        try:
            yield from self._generate(self.config, self.checker)
        except GenerationError as exc:
            self._answer = self._fallback(fallback_note(exc.reason))
            return
        self._answer = self._assemble(self.checker) or self._fallback(UNSUPPORTED_NOTE)

    def _fallback(self, note: Note) -> Answer:
        return replace(self.extractive, notes=(*self.extractive.notes, note))

    def _generate(self, config: LLMConfig, checker: SupportChecker) -> Iterator[AnswerSentence]:
        messages = build_messages(self.extractive.question, self.extractive.passages, self.history, self.max_sentences)
        buffer = SentenceBuffer()
        for delta in stream_chat(config, messages):
            yield from self._checked(buffer.feed(delta), checker)
        yield from self._checked(buffer.close(), checker)
        if not self.sentences:
            raise GenerationError("the model returned an empty answer")

    def _checked(self, raw: list[str], checker: SupportChecker) -> Iterator[AnswerSentence]:
        for sentence in map(checker.check_sentence, raw):
            if sentence is not None:
                self.sentences.append(sentence)
                if sentence.supported or not self.drop_unsupported:
                    yield sentence

    def _assemble(self, checker: SupportChecker) -> Answer | None:
        """The generative answer, or None when no sentence of it is supported."""
        base = self.extractive
        sentences = tuple(self.sentences)
        if all(is_refusal(s.text) for s in sentences):
            return replace(base, text=NOT_ANSWERED, answered=False, citations=(), notes=(), mode="generative",
                           sentences=sentences)  # fmt: skip
        if not any(s.supported and s.citations for s in sentences):
            return None
        failed = sum(not s.supported for s in sentences)
        outcome = "were left out" if self.drop_unsupported else "are marked unsupported"
        notes = (Note(UNSUPPORTED, f"{failed} of {len(sentences)} generated sentences are not supported by the "
                               f"passages they cite and {outcome}."),) if failed else ()  # fmt: skip
        if self.drop_unsupported:
            sentences = tuple(s for s in sentences if s.supported)
        parts = [f"{s.text} " + "".join(f"[{n}]" for n in s.citations) if s.citations else
                 s.text if s.supported else f"{s.text} [unsupported]" for s in sentences]  # fmt: skip
        return replace(base, text=" ".join(parts), answered=True, citations=tuple(checker.citations), notes=notes,
                       mode="generative", sentences=sentences)  # fmt: skip
