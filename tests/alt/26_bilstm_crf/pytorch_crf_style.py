"""Alt: the CRF written like pytorch-crf (kmkurn/pytorch-crf): time-major internals, a uint8 mask,
`forward` returning the log-likelihood with a `reduction`, `_compute_score` / `_compute_normalizer` /
`_viterbi_decode`; the BiLSTM packs a batch sorted by hand and unsorts it (the pre-enforce_sorted idiom).
"""
import torch
import torch.nn as nn


class CRF(nn.Module):
    def __init__(self, num_tags: int, batch_first: bool = True) -> None:
        super().__init__()
        self.num_tags = num_tags
        self.batch_first = batch_first
        self.start_transitions = nn.Parameter(torch.empty(num_tags))
        self.end_transitions = nn.Parameter(torch.empty(num_tags))
        self.transitions = nn.Parameter(torch.empty(num_tags, num_tags))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.uniform_(self.start_transitions, -0.1, 0.1)
        nn.init.uniform_(self.end_transitions, -0.1, 0.1)
        nn.init.uniform_(self.transitions, -0.1, 0.1)

    def forward(self, emissions, tags, mask=None, reduction="sum"):
        if mask is None:
            mask = torch.ones_like(tags, dtype=torch.uint8)
        if self.batch_first:
            emissions, tags, mask = emissions.transpose(0, 1), tags.transpose(0, 1), mask.transpose(0, 1)
        mask = mask.to(torch.uint8)
        numerator = self._compute_score(emissions, tags, mask)
        denominator = self._compute_normalizer(emissions, mask)
        llh = numerator - denominator
        if reduction == "none":
            return llh
        if reduction == "sum":
            return llh.sum()
        return llh.mean()

    # --- the exercise's API on top of pytorch-crf's ---
    def log_partition(self, emissions, mask):
        return self._compute_normalizer(emissions.transpose(0, 1), mask.transpose(0, 1).to(torch.uint8))

    def neg_log_likelihood(self, emissions, tags, mask):
        return -self(emissions, tags, mask, reduction="sum")

    def decode(self, emissions, mask=None):
        if mask is None:
            mask = emissions.new_ones(emissions.shape[:2], dtype=torch.uint8)
        if self.batch_first:
            emissions, mask = emissions.transpose(0, 1), mask.transpose(0, 1)
        return self._viterbi_decode(emissions, mask.to(torch.uint8))

    def _compute_score(self, emissions, tags, mask):
        seq_length, batch_size = tags.shape
        mask = mask.type_as(emissions)
        score = self.start_transitions[tags[0]]
        score = score + emissions[0, torch.arange(batch_size, device=tags.device), tags[0]]
        for i in range(1, seq_length):
            score = score + self.transitions[tags[i - 1], tags[i]] * mask[i]
            score = score + emissions[i, torch.arange(batch_size, device=tags.device), tags[i]] * mask[i]
        seq_ends = mask.long().sum(dim=0) - 1
        last_tags = tags[seq_ends, torch.arange(batch_size, device=tags.device)]
        score = score + self.end_transitions[last_tags]
        return score

    def _compute_normalizer(self, emissions, mask):
        seq_length = emissions.size(0)
        score = self.start_transitions + emissions[0]
        for i in range(1, seq_length):
            broadcast_score = score.unsqueeze(2)
            broadcast_emissions = emissions[i].unsqueeze(1)
            next_score = broadcast_score + self.transitions + broadcast_emissions
            next_score = torch.logsumexp(next_score, dim=1)
            score = torch.where(mask[i].unsqueeze(1).bool(), next_score, score)
        score = score + self.end_transitions
        return torch.logsumexp(score, dim=1)

    def _viterbi_decode(self, emissions, mask):
        seq_length, batch_size = mask.shape
        score = self.start_transitions + emissions[0]
        history = []
        for i in range(1, seq_length):
            broadcast_score = score.unsqueeze(2)
            broadcast_emission = emissions[i].unsqueeze(1)
            next_score = broadcast_score + self.transitions + broadcast_emission
            next_score, indices = next_score.max(dim=1)
            score = torch.where(mask[i].unsqueeze(1).bool(), next_score, score)
            history.append(indices)
        score = score + self.end_transitions
        seq_ends = mask.long().sum(dim=0) - 1
        best_tags_list = []
        for idx in range(batch_size):
            _, best_last_tag = score[idx].max(dim=0)
            best_tags = [best_last_tag.item()]
            for hist in reversed(history[:seq_ends[idx]]):
                best_last_tag = hist[idx][best_tags[-1]]
                best_tags.append(best_last_tag.item())
            best_tags.reverse()
            best_tags_list.append(best_tags)
        return best_tags_list


class BiLSTMCRF(nn.Module):
    def __init__(self, vocab_size, num_tags, embedding_dim=32, hidden_size=32, pad_idx=0):
        super().__init__()
        self.word_embeds = nn.Embedding(vocab_size, embedding_dim, padding_idx=pad_idx)
        self.lstm = nn.LSTM(embedding_dim, hidden_size, num_layers=1, bidirectional=True, batch_first=True)
        self.hidden2tag = nn.Linear(hidden_size * 2, num_tags)
        self.crf = CRF(num_tags, batch_first=True)

    def _get_lstm_features(self, sentences, lengths):
        lengths = torch.as_tensor(lengths).cpu()
        sorted_lengths, perm = lengths.sort(descending=True)
        embeds = self.word_embeds(sentences[perm.to(sentences.device)])
        packed = nn.utils.rnn.pack_padded_sequence(embeds, sorted_lengths, batch_first=True)
        lstm_out, _ = self.lstm(packed)
        lstm_out, _ = nn.utils.rnn.pad_packed_sequence(lstm_out, batch_first=True, total_length=sentences.size(1))
        _, unperm = perm.sort()
        return self.hidden2tag(lstm_out[unperm.to(sentences.device)])

    def _mask(self, sentences, lengths):
        lengths = torch.as_tensor(lengths).to(sentences.device)
        return (torch.arange(sentences.size(1), device=sentences.device).expand(len(lengths), -1)
                < lengths.unsqueeze(1)).to(torch.uint8)

    def forward(self, sentences, lengths):
        return self._get_lstm_features(sentences, lengths)

    def loss(self, sentences, tags, lengths):
        return -self.crf(self(sentences, lengths), tags, self._mask(sentences, lengths), reduction="sum")

    def decode(self, sentences, lengths):
        return self.crf.decode(self(sentences, lengths), self._mask(sentences, lengths))
