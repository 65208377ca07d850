"""Alt: in the style of the PyTorch "Advanced: Making Dynamic Decisions and the Bi-LSTM CRF" tutorial:
a max-trick log_sum_exp helper, _forward_alg / _score_sentence / _viterbi_decode one sentence at a
time (each cut to its own length), forward_var and back-pointer lists; the tutorial stores
transitions as [to, from], so here it reads them through `trans = self.transitions.t()` to keep the
exercise's [from, to] parameter. Emissions returned as log-probabilities (log_softmax), which a CRF allows.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F


def log_sum_exp(vec):
    """Numerically stable log-sum-exp over the last dim (the tutorial's helper, batched over rows)."""
    max_score = vec.max(dim=-1, keepdim=True).values
    return (max_score + torch.log(torch.sum(torch.exp(vec - max_score), dim=-1, keepdim=True))).squeeze(-1)


class CRF(nn.Module):
    def __init__(self, tagset_size):
        super().__init__()
        self.tagset_size = tagset_size
        self.transitions = nn.Parameter(torch.randn(tagset_size, tagset_size) * 0.1)  # [from, to]
        self.start_transitions = nn.Parameter(torch.randn(tagset_size) * 0.1)
        self.end_transitions = nn.Parameter(torch.randn(tagset_size) * 0.1)

    def _forward_alg(self, feats):
        trans = self.transitions.t()                      # trans[next_tag, prev_tag], as in the tutorial
        forward_var = self.start_transitions + feats[0]
        for feat in feats[1:]:
            # alphas_t[next_tag] = log_sum_exp(forward_var + trans[next_tag]) + emit[next_tag]
            forward_var = log_sum_exp(forward_var.unsqueeze(0) + trans) + feat
        terminal_var = forward_var + self.end_transitions
        return log_sum_exp(terminal_var)

    def _score_sentence(self, feats, tags):
        score = self.start_transitions[tags[0]] + feats[0, tags[0]]
        for i in range(1, feats.shape[0]):
            score = score + self.transitions[tags[i - 1], tags[i]] + feats[i, tags[i]]
        return score + self.end_transitions[tags[-1]]

    def _viterbi_decode(self, feats):
        trans = self.transitions.t()
        backpointers = []
        forward_var = self.start_transitions + feats[0]
        for feat in feats[1:]:
            next_tag_var = forward_var.unsqueeze(0) + trans          # [next, prev]
            viterbivars_t, bptrs_t = next_tag_var.max(dim=1)
            backpointers.append(bptrs_t.tolist())
            forward_var = viterbivars_t + feat
        terminal_var = forward_var + self.end_transitions
        best_tag_id = int(terminal_var.argmax())
        best_path = [best_tag_id]
        for bptrs_t in reversed(backpointers):
            best_tag_id = bptrs_t[best_tag_id]
            best_path.append(best_tag_id)
        best_path.reverse()
        return best_path

    def log_partition(self, emissions, mask):
        lengths = mask.long().sum(1).tolist()
        return torch.stack([self._forward_alg(emissions[b, :L]) for b, L in enumerate(lengths)])

    def neg_log_likelihood(self, emissions, tags, mask):
        lengths = mask.long().sum(1).tolist()
        total = 0
        for b, L in enumerate(lengths):
            total = total + self._forward_alg(emissions[b, :L]) - self._score_sentence(emissions[b, :L], tags[b, :L])
        return total

    def decode(self, emissions, mask):
        with torch.no_grad():
            lengths = mask.long().sum(1).tolist()
            return [self._viterbi_decode(emissions[b, :L]) for b, L in enumerate(lengths)]


class BiLSTMCRF(nn.Module):
    def __init__(self, vocab_size, tagset_size, embedding_dim=32, hidden_size=32, pad_idx=0):
        super().__init__()
        self.word_embeds = nn.Embedding(vocab_size, embedding_dim, padding_idx=pad_idx)
        self.lstm = nn.LSTM(embedding_dim, hidden_size, num_layers=1, bidirectional=True, batch_first=True)
        self.hidden2tag = nn.Linear(hidden_size * 2, tagset_size)
        self.crf = CRF(tagset_size)

    def _get_lstm_features(self, sentence, lengths):
        embeds = self.word_embeds(sentence)
        packed = nn.utils.rnn.pack_padded_sequence(embeds, torch.as_tensor(lengths).cpu(), batch_first=True,
                                                   enforce_sorted=False)
        lstm_out, _ = self.lstm(packed)
        lstm_out, _ = nn.utils.rnn.pad_packed_sequence(lstm_out, batch_first=True, total_length=sentence.shape[1])
        return F.log_softmax(self.hidden2tag(lstm_out), dim=-1)

    def forward(self, sentence, lengths):
        return self._get_lstm_features(sentence, lengths)

    def _mask(self, sentence, lengths):
        lengths = torch.as_tensor(lengths, device=sentence.device)
        return torch.arange(sentence.shape[1], device=sentence.device)[None] < lengths[:, None]

    def loss(self, sentence, tags, lengths):
        return self.crf.neg_log_likelihood(self(sentence, lengths), tags, self._mask(sentence, lengths))

    def decode(self, sentence, lengths):
        return self.crf.decode(self(sentence, lengths), self._mask(sentence, lengths))
