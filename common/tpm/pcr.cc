#include "common/tpm/pcr.h"

#include "common/tpm/errors.h"

namespace attest::tpm {
namespace {

constexpr size_t kSelectionEntrySize = 8;  // u16 hash, u8 sizeofSelect, u8[4], pad
constexpr size_t kSelectionSize = 4 + TPM2_NUM_PCR_BANKS * kSelectionEntrySize;  // 132
constexpr size_t kDigestEntrySize = 2 + sizeof(TPMU_HA);                         // 66
constexpr size_t kDigestListSize = 4 + 8 * kDigestEntrySize;                     // 532
constexpr uint32_t kMaxDigestLists = 64;  // tpm2-tools reads at most this many batches

uint32_t Le32(ByteView b, size_t off) {
  return uint32_t{b[off]} | uint32_t{b[off + 1]} << 8 | uint32_t{b[off + 2]} << 16 |
         uint32_t{b[off + 3]} << 24;
}
uint16_t Le16(ByteView b, size_t off) { return static_cast<uint16_t>(b[off] | b[off + 1] << 8); }
void PutLe32(Bytes& b, size_t off, uint32_t v) {
  for (int i = 0; i < 4; ++i) b[off + i] = static_cast<uint8_t>(v >> (8 * i));
}
void PutLe16(Bytes& b, size_t off, uint16_t v) {
  b[off] = static_cast<uint8_t>(v);
  b[off + 1] = static_cast<uint8_t>(v >> 8);
}

Error Bad(const std::string& what) { return MakeError(errc::malformed, "PCR file: " + what); }

}  // namespace

std::vector<BankSelection> SelectionToList(const TPML_PCR_SELECTION& sel) {
  std::vector<BankSelection> out;
  uint32_t count = sel.count < TPM2_NUM_PCR_BANKS ? sel.count : TPM2_NUM_PCR_BANKS;
  for (uint32_t i = 0; i < count; ++i) {
    const TPMS_PCR_SELECTION& s = sel.pcrSelections[i];
    BankSelection bank;
    bank.hash = s.hash;
    uint8_t size = s.sizeofSelect < TPM2_PCR_SELECT_MAX ? s.sizeofSelect : TPM2_PCR_SELECT_MAX;
    for (uint32_t pcr = 0; pcr < size * 8u; ++pcr) {
      if (s.pcrSelect[pcr / 8] & (1u << (pcr % 8))) bank.pcrs.push_back(pcr);
    }
    out.push_back(std::move(bank));
  }
  return out;
}

std::string FormatSelection(const TPML_PCR_SELECTION& sel) {
  std::string out;
  for (const auto& bank : SelectionToList(sel)) {
    if (!out.empty()) out += '+';
    out += HashAlgName(bank.hash) + ':';
    for (size_t i = 0; i < bank.pcrs.size(); ++i) {
      if (i) out += ',';
      out += std::to_string(bank.pcrs[i]);
    }
  }
  return out;
}

Result<Tpm2ToolsPcrFile> ParseTpm2ToolsPcrFile(ByteView b) {
  if (b.size() < kSelectionSize + 4) {
    return Bad(std::to_string(b.size()) + " bytes, shorter than a selection and a count");
  }
  Tpm2ToolsPcrFile out;
  out.selection.count = Le32(b, 0);
  if (out.selection.count == 0 || out.selection.count > TPM2_NUM_PCR_BANKS) {
    return Bad("selection count " + std::to_string(out.selection.count) + " out of range");
  }
  for (uint32_t i = 0; i < out.selection.count; ++i) {
    size_t off = 4 + i * kSelectionEntrySize;
    TPMS_PCR_SELECTION& s = out.selection.pcrSelections[i];
    s.hash = Le16(b, off);
    s.sizeofSelect = b[off + 2];
    if (s.sizeofSelect > TPM2_PCR_SELECT_MAX) {
      return Bad("bank " + std::to_string(i) + " sizeofSelect " + std::to_string(s.sizeofSelect));
    }
    for (size_t k = 0; k < TPM2_PCR_SELECT_MAX; ++k) s.pcrSelect[k] = b[off + 3 + k];
    if (HashAlgDigestSize(s.hash) == 0) {
      return Bad("bank " + std::to_string(i) + " has unsupported hash " + HashAlgName(s.hash));
    }
  }
  uint32_t lists = Le32(b, kSelectionSize);
  if (lists > kMaxDigestLists) return Bad("digest list count " + std::to_string(lists));
  size_t expected = kSelectionSize + 4 + size_t{lists} * kDigestListSize;
  if (b.size() != expected) {
    return Bad(std::to_string(b.size()) + " bytes, expected " + std::to_string(expected) + " for " +
               std::to_string(lists) + " digest lists");
  }
  std::vector<ByteView> digests;
  for (uint32_t l = 0; l < lists; ++l) {
    size_t base = kSelectionSize + 4 + l * kDigestListSize;
    uint32_t count = Le32(b, base);
    if (count > 8)
      return Bad("digest list " + std::to_string(l) + " count " + std::to_string(count));
    for (uint32_t k = 0; k < count; ++k) {
      size_t off = base + 4 + k * kDigestEntrySize;
      uint16_t size = Le16(b, off);
      if (size > sizeof(TPMU_HA)) return Bad("digest size " + std::to_string(size));
      digests.push_back(b.subspan(off + 2, size));
    }
  }
  size_t next = 0;
  for (const auto& bank : SelectionToList(out.selection)) {
    size_t want = HashAlgDigestSize(bank.hash);
    auto& values = out.values[bank.hash];
    for (uint32_t pcr : bank.pcrs) {
      if (next >= digests.size()) {
        return Bad("no digest for " + HashAlgName(bank.hash) + ":" + std::to_string(pcr));
      }
      if (digests[next].size() != want) {
        return Bad("digest for " + HashAlgName(bank.hash) + ":" + std::to_string(pcr) + " has " +
                   std::to_string(digests[next].size()) + " bytes, expected " +
                   std::to_string(want));
      }
      if (!values.emplace(pcr, Bytes(digests[next].begin(), digests[next].end())).second) {
        return Bad("bank " + HashAlgName(bank.hash) + " selected twice");
      }
      ++next;
    }
  }
  if (next != digests.size()) {
    return Bad(std::to_string(digests.size()) + " digests for " + std::to_string(next) +
               " selected PCRs");
  }
  return out;
}

Result<Bytes> SerializeTpm2ToolsPcrFile(const TPML_PCR_SELECTION& selection,
                                        const PcrValues& values) {
  if (selection.count > TPM2_NUM_PCR_BANKS) return Bad("too many banks");
  std::vector<const Bytes*> digests;
  for (const auto& bank : SelectionToList(selection)) {
    auto it = values.find(bank.hash);
    for (uint32_t pcr : bank.pcrs) {
      if (it == values.end() || !it->second.contains(pcr)) {
        return Bad("no value for " + HashAlgName(bank.hash) + ":" + std::to_string(pcr));
      }
      const Bytes& d = it->second.at(pcr);
      if (d.size() > sizeof(TPMU_HA)) return Bad("digest too long");
      digests.push_back(&d);
    }
  }
  size_t lists = (digests.size() + 7) / 8;
  Bytes out(kSelectionSize + 4 + lists * kDigestListSize, 0);
  PutLe32(out, 0, selection.count);
  for (uint32_t i = 0; i < selection.count; ++i) {
    size_t off = 4 + i * kSelectionEntrySize;
    const TPMS_PCR_SELECTION& s = selection.pcrSelections[i];
    PutLe16(out, off, s.hash);
    out[off + 2] = s.sizeofSelect;
    for (size_t k = 0; k < TPM2_PCR_SELECT_MAX; ++k) out[off + 3 + k] = s.pcrSelect[k];
  }
  PutLe32(out, kSelectionSize, static_cast<uint32_t>(lists));
  for (size_t i = 0; i < digests.size(); ++i) {
    size_t base = kSelectionSize + 4 + (i / 8) * kDigestListSize;
    PutLe32(out, base, static_cast<uint32_t>(std::min<size_t>(8, digests.size() - (i / 8) * 8)));
    size_t off = base + 4 + (i % 8) * kDigestEntrySize;
    PutLe16(out, off, static_cast<uint16_t>(digests[i]->size()));
    std::copy(digests[i]->begin(), digests[i]->end(), out.begin() + static_cast<long>(off + 2));
  }
  return out;
}

}  // namespace attest::tpm
