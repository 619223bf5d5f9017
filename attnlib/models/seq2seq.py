"""GRU encoder–decoder, with and without additive (Bahdanau) attention.

* The **encoder** is a bidirectional GRU: one state per source token
  (the *keys and values* of attention) and a summary of the whole source.
* The **decoder** is a GRU that starts from the summary and reads the
  previous target token. At every step it forms a context vector ``c_t``:

  - ``attention=True``: ``c_t = sum_j a_tj h_j`` with
    ``a_t = softmax(score(s_t, h_j))`` and the additive score of Bahdanau et
    al. (2015), ``w_v . tanh(W_q s_t + W_k h_j)``
    (:class:`attnlib.layers.AdditiveAttention`). This is **cross**-attention:
    the query ``s_t`` comes from the decoder, keys and values from the encoder.
  - ``attention=False``: ``c_t = c``, the same fixed summary vector at every
    step (the encoder–decoder of Cho et al., 2014 / Sutskever et al., 2014).

  The output layer reads ``[s_t; c_t]``. The context enters *after* the GRU
  (the arrangement of Luong et al., 2015), so teacher-forced training runs the
  decoder GRU over the whole target in one call.
* Decoding: :meth:`Seq2Seq.generate` (batched; greedy at
  ``temperature=0``) and :meth:`Seq2Seq.beam_search`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from .._validate import check_tensor, check_token_ids, shape_str
from ..device import evaluating
from ..layers import AdditiveAttention
from .contract import (
    ModelOutput,
    TeacherForcedLoss,
    check_config,
    decode_until_eos,
)

__all__ = ["Seq2SeqConfig", "Seq2Seq"]


@dataclass
class Seq2SeqConfig:
    """Sizes of a GRU encoder–decoder. Source and target share one vocabulary
    (one embedding table). ``d_model`` is the GRUs' state size (the
    encoder's two directions give ``2 * d_model`` per source token);
    ``max_len`` bounds the source and the target."""

    vocab_size: int
    emb_dim: int = 64
    d_model: int = 128
    attn_dim: int = 64
    attention: bool = True
    pad_id: int = 0
    bos_id: int = 1
    eos_id: int = 2
    max_len: int = 128
    dropout: float = 0.0

    def __post_init__(self):
        check_config(self, positive=("vocab_size", "emb_dim", "attn_dim"))
        for name in ("pad_id", "bos_id", "eos_id"):
            value = getattr(self, name)
            if not isinstance(value, int) or not 0 <= value < self.vocab_size:
                raise ValueError(
                    f"{name} must be an id in [0, {self.vocab_size}), got "
                    f"{value!r}"
                )


class Seq2Seq(TeacherForcedLoss, nn.Module):
    """GRU encoder–decoder; ``cfg.attention`` switches additive cross-attention
    on or off.

    ``forward(src, tgt_in)`` takes ``(batch, n_src)`` and ``(batch, n_tgt)``
    int64 ids (right-padded with ``pad_id``) and returns
    ``(batch, n_tgt, vocab)`` logits; with ``need_weights=True``
    ``ModelOutput(logits, [weights])``: one attention layer with one head,
    ``(batch, 1, n_tgt, n_src)`` (an empty list without attention).
    """

    def __init__(self, cfg: Seq2SeqConfig):
        super().__init__()
        self.cfg = cfg
        h = cfg.d_model
        self.embed = nn.Embedding(
            cfg.vocab_size, cfg.emb_dim, padding_idx=cfg.pad_id
        )
        self.encoder = nn.GRU(
            cfg.emb_dim, h, batch_first=True, bidirectional=True
        )
        self.bridge = nn.Linear(
            2 * h, h
        )  # encoder summary -> decoder's first state
        self.decoder = nn.GRU(cfg.emb_dim + 2 * h, h, batch_first=True)
        self.attn = (
            AdditiveAttention(h, 2 * h, cfg.attn_dim)
            if cfg.attention
            else None
        )
        self.drop = nn.Dropout(cfg.dropout)
        self.combine = nn.Linear(
            h + 2 * h, h
        )  # [s_t; c_t] -> attentional state
        self.out = nn.Linear(h, cfg.vocab_size)

    # -- input checks --------------------------------------------------------
    def _check_ids(self, ids: torch.Tensor, name: str) -> None:
        check_token_ids(
            name,
            ids,
            vocab_size=self.cfg.vocab_size,
            max_len=self.cfg.max_len,
            nonempty="batch",
            too_long=(
                "the model allows {max_len}; shorten the input or build the "
                "model with a larger max length"
            ),
        )

    # -- encoder --------------------------------------------------------------
    def encode(self, src: torch.Tensor):
        """Return ``(states (b, n, 2h), summary (b, 2h), mask (b, n)
        True = real token)``."""
        self._check_ids(src, "src")
        mask = src != self.cfg.pad_id
        lengths = mask.sum(1)
        if (lengths == 0).any():
            raise ValueError(
                "src has a row with no real tokens (all padding); every "
                "source needs >= 1 token"
            )
        packed = pack_padded_sequence(
            self.drop(self.embed(src)),
            lengths.cpu(),
            batch_first=True,
            enforce_sorted=False,
        )
        states, last = self.encoder(packed)
        states, _ = pad_packed_sequence(
            states, batch_first=True, total_length=src.shape[1]
        )
        summary = torch.cat(
            [last[0], last[1]], dim=-1
        )  # forward's last and backward's first state
        return states, summary, mask

    def init_state(self, summary: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.bridge(summary))[None]  # (1, b, h)

    # -- decoder --------------------------------------------------------------
    def context(
        self,
        s: torch.Tensor,
        states: torch.Tensor,
        summary: torch.Tensor,
        mask: torch.Tensor,
    ):
        """Context vectors ``(b, m, 2h)`` for decoder states ``s (b, m, h)``,
        and weights or None."""
        if self.attn is None:
            return summary[:, None].expand(-1, s.shape[1], -1), None
        return self.attn(
            s, states, states, mask[:, None, :]
        )  # queries: decoder; keys, values: encoder

    def decode_steps(
        self, tgt_in: torch.Tensor, hidden: torch.Tensor, states, summary, mask
    ):
        """Run the decoder over ``tgt_in (b, m)``; return
        ``(logits, hidden, weights)``."""
        emb = self.drop(self.embed(tgt_in))
        feed = summary[:, None].expand(-1, tgt_in.shape[1], -1)
        s, hidden = self.decoder(torch.cat([emb, feed], dim=-1), hidden)
        ctx, weights = self.context(s, states, summary, mask)
        att = torch.tanh(self.combine(self.drop(torch.cat([s, ctx], dim=-1))))
        return self.out(att), hidden, weights

    def forward(
        self,
        src: torch.Tensor,
        tgt_in: torch.Tensor,
        *,
        need_weights: bool = False,
    ):
        self._check_ids(tgt_in, "tgt_in")
        if src.shape[0] != tgt_in.shape[0]:
            raise ValueError(
                "src and tgt_in must share the batch size, got "
                f"{shape_str(src)} and {shape_str(tgt_in)}"
            )
        states, summary, mask = self.encode(src)
        logits, _, weights = self.decode_steps(
            tgt_in, self.init_state(summary), states, summary, mask
        )
        if not need_weights:
            return logits
        return ModelOutput(
            logits, [] if weights is None else [weights[:, None]]
        )

    @torch.no_grad()
    def generate(
        self,
        src: torch.Tensor,
        max_new_tokens: int,
        *,
        temperature: float = 0.0,
        top_k: int | None = None,
        generator: torch.Generator | None = None,
        need_weights: bool = False,
    ):
        """Batched decoding: ``(batch, <= 1 + max_new_tokens)`` ids starting
        with ``<bos>``; after a row's ``<eos>`` the row is filled with
        ``<pad>``. Greedy at ``temperature=0``, else sampled. With
        ``need_weights`` returns ``ModelOutput(ids, [weights])`` with weights
        ``(batch, 1, steps, n_src)`` (an empty list without attention)."""
        cfg, all_w = self.cfg, []
        with evaluating(self):
            states, summary, mask = self.encode(src)
            hidden = self.init_state(summary)

            def next_logits(out):
                nonlocal hidden
                logits, hidden, w = self.decode_steps(
                    out[:, -1:], hidden, states, summary, mask
                )
                if w is not None:
                    all_w.append(w)
                return logits[:, -1]

            out = decode_until_eos(
                next_logits,
                src.shape[0],
                max_new_tokens,
                bos_id=cfg.bos_id,
                eos_id=cfg.eos_id,
                fill_id=cfg.pad_id,
                device=src.device,
                temperature=temperature,
                top_k=top_k,
                generator=generator,
            )
        if need_weights:
            return ModelOutput(
                out, [torch.cat(all_w, dim=1)[:, None]] if all_w else []
            )
        return out

    @torch.no_grad()
    def beam_search(
        self,
        src: torch.Tensor,
        beam_size: int = 4,
        max_new_tokens: int | None = None,
        length_penalty: float = 1.0,
    ) -> list[tuple[list[int], float]]:
        """Beam search for **one** source ``(n,)`` or ``(1, n)``.

        Keeps the ``beam_size`` best partial hypotheses by total
        log-probability; a hypothesis ends at ``<eos>``. Returns up to
        ``beam_size`` finished ``(ids without <bos>/<eos>, score)`` pairs, best
        first, where ``score = log p / length ** length_penalty``.
        """
        if not isinstance(beam_size, int) or beam_size <= 0:
            raise ValueError(
                f"beam_size must be a positive int, got {beam_size!r}"
            )
        if isinstance(src, torch.Tensor) and src.dim() == 1:
            src = src[None]
        check_tensor("src", src, ndim=2)
        if src.shape[0] != 1:
            raise ValueError(
                "beam_search decodes one source at a time; src must be (n,) "
                f"or (1, n), got {shape_str(src)}"
            )
        with evaluating(self):
            cfg = self.cfg
            steps = max_new_tokens or cfg.max_len - 1
            states, summary, mask = self.encode(src)
            hidden = self.init_state(summary)  # (1, 1, h)
            beams = [([], 0.0)]  # (tokens, log-prob)
            finished: list[tuple[list[int], float]] = []
            last = torch.tensor([[cfg.bos_id]], device=src.device)
            for _ in range(steps):
                k = len(beams)
                logits, hidden_new, _ = self.decode_steps(
                    last,
                    hidden,
                    states.expand(k, -1, -1),
                    summary.expand(k, -1),
                    mask.expand(k, -1),
                )
                logp = torch.log_softmax(logits[:, -1], dim=-1)  # (k, vocab)
                so_far = torch.tensor([s for _, s in beams], device=src.device)
                total = so_far[:, None] + logp
                top = torch.topk(
                    total.flatten(), min(2 * beam_size, total.numel())
                )
                new_beams, rows, toks = [], [], []
                for score, flat in zip(
                    top.values.tolist(), top.indices.tolist()
                ):
                    row, tok = divmod(flat, logp.shape[1])
                    if tok == cfg.eos_id:
                        n = len(beams[row][0]) + 1
                        finished.append(
                            (beams[row][0], score / n**length_penalty)
                        )
                    else:
                        new_beams.append((beams[row][0] + [tok], score))
                        rows.append(row)
                        toks.append(tok)
                    if len(new_beams) == beam_size:
                        break
                if (
                    not new_beams or len(finished) >= beam_size
                ):  # enough finished hypotheses
                    break
                beams = new_beams
                hidden = hidden_new[:, rows]
                last = torch.tensor(toks, device=src.device)[:, None]
            if not finished:  # ran out of length: return live beams
                finished = [
                    (t, s / max(1, len(t)) ** length_penalty) for t, s in beams
                ]
        return sorted(finished, key=lambda x: -x[1])[:beam_size]
