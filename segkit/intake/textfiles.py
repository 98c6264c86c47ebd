"""Text files as they arrive: compressed or not, in the encodings exports use, with any separator.

`TextTable` reads a CSV/TSV-like file as a stream: the bytes are decompressed (gzip, bzip2, xz,
zstandard, a .zip with one member) and decoded to text chunk by chunk (an incremental decoder, never
the whole file at once), the separator is sniffed from the first lines, and the records come out as
Arrow record batches of strings (None where a value is empty) with `source_row`, the line on which
each record starts in the file. `segkit.intake.sources.read_file` gathers the batches into a
DataFrame; a database engine can take them one by one.

Rules (docs/data.md, "CSV and TSV"):

- Encoding: a stated one is used as stated. Otherwise a byte-order mark decides (UTF-8, UTF-16,
  UTF-32; a UTF-8 mark before bytes that are not UTF-8, or before a stated other encoding, is
  dropped and the text read as if it were not there); then the first bytes outside ASCII decide
  among UTF-8, GB18030 (which reads GBK) and Windows-1252 (which reads Latin-1 exports), in that order, GB18030 only when its reading of
  those bytes is plausible Chinese. A line further on that does not decode in the encoding chosen,
  or that is plainly UTF-8 inside a GBK or Windows-1252 file (two exports pasted together), stops
  the reading with its line number: it is never decoded into mojibake.
- Lines end in LF, CRLF or a lone CR (old Mac exports), also inside quoted values.
- Separator: stated, or from an Excel `sep=;` first line (which is then not part of the table), or
  the one of comma, semicolon, tab and pipe that splits the header into most columns and the next
  lines into as many; else runs of blanks (as in the CDNOW master file); else the format's own.
- A record whose values are all blank (spaces, tabs, separators) is not a record: it is skipped and
  counted (`blank_lines`). Trailing empty values beyond the header are dropped; other extra values
  stop the reading with the line. A header naming a column twice is refused.
"""

from __future__ import annotations

import bz2
import codecs
import collections
import contextlib
import csv
import difflib
import functools
import gzip
import io
import itertools
import lzma
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from segkit.errors import DataError
from segkit.i18n import counted

CHUNK_BYTES = 1 << 20
BATCH_ROWS = 65_536
COMPRESSION_SUFFIXES = {".gz": "gzip", ".gzip": "gzip", ".bz2": "bz2", ".xz": "xz", ".zst": "zstd",
                        ".zstd": "zstd", ".zip": "zip"}
MAGIC = ((b"\x1f\x8b", "gzip"), (b"BZh", "bz2"), (b"\xfd7zXZ\x00", "xz"), (b"\x28\xb5\x2f\xfd", "zstd"),
         (b"PK\x03\x04", "zip"))
BINARY_SUFFIXES = (".xlsx", ".xlsm", ".parquet", ".pq", ".duckdb", ".ddb")
DETECTED = ("utf-8", "gb18030", "cp1252")
ENCODING_NAMES = {"utf-8": "UTF-8", "gb18030": "GB18030 (GBK)", "cp1252": "Windows-1252 (Latin-1)"}
# encodings that read nearly any bytes, UTF-8 too: their files are checked line by line for pasted UTF-8
PASTE_CHECKED = ("gb18030", "gbk", "gb2312", "cp1252", "iso8859-1")
SUGGESTED = ("big5", "shift_jis", "euc-kr", "euc-jp")  # offered only when they read the bytes
SEPARATORS = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe", " ": "space", "spaces": "runs of blanks"}
SNIFF_LINES = 50
_ZIP_NOISE = re.compile(r"(^|/)(__MACOSX/|\._|\.DS_Store$)")


def compression_of(path: Path) -> str | None:
    """The compression of `path`: from its suffix (.gz, .bz2, .xz, .zst, .zip), else from its first bytes."""
    by_suffix = COMPRESSION_SUFFIXES.get(path.suffix.lower())
    if by_suffix or path.suffix.lower() in BINARY_SUFFIXES:  # a workbook is a zip, and is not compressed text
        return by_suffix
    try:
        with path.open("rb") as f:
            head = f.read(8)
    except OSError:
        return None
    return next((name for magic, name in MAGIC if head.startswith(magic)), None)


def inner_name(path: Path, member: str | None = None) -> str:
    """The name whose suffix says the format: `x.tsv.gz` -> `x.tsv`, a zip's member, else the file's name."""
    if member:
        return member
    name = path.name
    suffix = path.suffix.lower()
    return name[: -len(suffix)] if suffix in COMPRESSION_SUFFIXES else name


def zip_member(path: Path, member: str | None, key: str) -> str:
    """The member of the zip at `path` to read: `member`, or the only file it holds."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = [i.filename for i in archive.infolist() if not i.is_dir() and not _ZIP_NOISE.search(i.filename)]
    except (zipfile.BadZipFile, OSError) as err:
        raise DataError(f"{path}: not a readable .zip file ({err}); export it again") from None
    if "[Content_Types].xml" in names and any(n.startswith("xl/") for n in names):
        raise DataError(f"{path}: is an Excel workbook, not a compressed file; name it .xlsx, or set {key}.format: "
                        "excel")
    if member is not None:
        if member not in names:
            close = difflib.get_close_matches(member, names, n=1)
            hint = f'; did you mean "{close[0]}"?' if close else ""
            raise DataError(f'{path}: holds no file "{member}"{hint} (files there: {", ".join(names[:20]) or "none"}); '
                            f"fix {key}.member")
        return member
    if not names:
        raise DataError(f"{path}: the .zip holds no file; export it again")
    if len(names) > 1:
        raise DataError(f"{path}: the .zip holds {len(names)} files ({', '.join(names[:20])}); set {key}.member to "
                        "the one to read")
    return names[0]


@contextlib.contextmanager
def open_bytes(path: Path, key: str, member: str | None = None) -> Iterator[BinaryIO]:
    """The file's bytes as a stream, decompressed (gzip, bzip2, xz, zstandard, a zip member)."""
    compression = compression_of(path)
    try:
        if compression == "zip":
            name = zip_member(path, member, key)
            with zipfile.ZipFile(path) as archive, archive.open(name) as stream:
                yield stream
        elif compression == "zstd":
            try:
                import zstandard
            except ImportError:
                raise DataError(f"{path}: reading .zst files needs zstandard: pip install zstandard") from None
            with path.open("rb") as raw, zstandard.ZstdDecompressor().stream_reader(raw) as stream:
                yield stream
        else:
            opener = {"gzip": gzip.open, "bz2": bz2.open, "xz": lzma.open}.get(compression, open)
            with opener(path, "rb") as stream:
                yield stream
    except (OSError, EOFError, lzma.LZMAError, zipfile.BadZipFile) as err:
        what = f"a {compression} file that cannot be decompressed" if compression else "cannot be read"
        raise DataError(f"{path}: {what} ({getattr(err, 'strerror', None) or err}); check {key}.path, that you may "
                        "read it and that it was copied whole") from None
    except Exception as err:
        if type(err).__module__.startswith("zstandard"):
            raise DataError(f"{path}: a zstd file that cannot be decompressed ({err}); check that it was copied "
                            "whole") from None
        raise


# -- decoding ---------------------------------------------------------------------------------

def plausibility(text: str) -> float:
    """The share of the non-ASCII characters of `text` that are everyday characters of exported
    text: Latin-1 letters and signs, general punctuation and currency signs, CJK punctuation and
    full-width forms, and the 3,755 common Chinese characters (GB 2312 level 1). 1.0 without any.

    A byte sequence read in the wrong one of two encodings gives rare characters (UTF-8 "图书" read
    as GB18030 is "鍥句功"), so of two readings the one with the higher share is the right one.
    """
    counts = collections.Counter(_BEYOND_ASCII.findall(text))
    total = sum(counts.values())
    good = sum(n for char, n in counts.items() if _everyday(char))
    return good / total if total else 1.0


_BEYOND_ASCII = re.compile(r"[^\x00-\x7f]")


@functools.lru_cache(maxsize=65536)
def _everyday(char: str) -> bool:
    code = ord(char)
    if 0xA0 <= code <= 0xFF or 0x2000 <= code <= 0x20CF or 0x3000 <= code <= 0x303F or 0xFF00 <= code <= 0xFFEF:
        return True
    if 0x4E00 <= code <= 0x9FFF:
        try:
            return 0xB0 <= char.encode("gb2312")[0] <= 0xD7
        except UnicodeEncodeError:
            return False
    return False


def _is_utf8_rather_than(raw: bytes, encoding: str) -> bool:
    """Whether `raw` (a line) is UTF-8 with characters beyond ASCII, and reads better so than in `encoding`."""
    if raw.isascii():
        return False
    try:
        as_utf8 = raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    if codecs.lookup(encoding).name in ("cp1252", "iso8859-1"):  # valid multi-byte UTF-8 only by accident ("Ã©")
        return True
    try:
        other = raw.decode(encoding)
    except UnicodeDecodeError:
        return True
    return plausibility(as_utf8) > plausibility(other)


_HIGH_RUN = re.compile(rb"[\x80-\xff]+")


@functools.lru_cache(maxsize=65536)
def _run_is_utf8(run: bytes, encoding: str) -> bool:
    """`_is_utf8_rather_than` for one run of bytes beyond ASCII (a word, a name, a category),
    cached: exports repeat them."""
    return _is_utf8_rather_than(run, encoding)


def _normalise_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text


@dataclass
class Decoded:
    """The text of a byte stream in chunks (newlines as "\\n", no byte-order mark), and how it was read."""

    stream: BinaryIO
    path: Path
    key: str
    stated: str | None = None
    encoding: str = "ascii"  # until the first byte beyond ASCII decides
    lines_done: int = field(default=0, init=False)  # newlines given out so far
    _other_text_seen: bool = field(default=False, init=False)  # a chunk read held text that is not UTF-8

    def __iter__(self) -> Iterator[str]:
        head = self.stream.read(CHUNK_BYTES)
        decoder = None
        if head.startswith(codecs.BOM_UTF8) and not _utf8_after_bom(head, self.stated):
            # a UTF-8 byte-order mark before text in another encoding (a GBK export "saved with BOM"): not
            # text, and its three bytes would shift every two-byte character of the header
            head = head[len(codecs.BOM_UTF8):]
        if self.stated:
            decoder = self._decoder(self.stated)
            self.encoding = self.stated
        else:
            bom = _bom_encoding(head)
            if bom is None and b"\x00" in head[:4096]:
                bom = _utf16_without_bom(head)
                if bom is None:
                    raise DataError(f"{self.path}: not a text file (it holds NUL bytes): check {self.key}.path, or set "
                                    f"{self.key}.format if it is Excel, Parquet or DuckDB")
            if bom:
                decoder = self._decoder(bom)
                self.encoding = bom
        pending_cr = False
        chunk = head
        while True:
            following = self.stream.read(CHUNK_BYTES) if chunk else b""
            final = not following
            if decoder is None and not chunk.isascii():
                self.encoding = self._decide(chunk, final)
                decoder = self._decoder(self.encoding)
            text = chunk.decode("ascii") if decoder is None else self._decode(decoder, chunk, final)
            checked = decoder is not None and codecs.lookup(self.encoding).name in PASTE_CHECKED
            if chunk is head:  # a byte-order mark is not text (a stated utf-8 keeps it otherwise)
                text = text.lstrip("\ufeff")
            if pending_cr:
                text = "\r" + text
            pending_cr = text.endswith("\r") and not final
            if pending_cr:
                text = text[:-1]
            text = _normalise_newlines(text)
            if checked:
                self._check_pasted(chunk)
            if decoder is not None and not self._other_text_seen:
                self._other_text_seen = _other_text(chunk)
            self.lines_done += text.count("\n")
            if text:
                yield text
            if final:
                return
            chunk = following

    def _decoder(self, encoding: str):
        from segkit.params import text_encoding_problem

        # params refuse these first; a FileTable built in code may not have been checked
        problem = text_encoding_problem(encoding) if encoding == self.stated else None
        if problem:
            raise DataError(f"{self.key}.encoding: {problem}")
        return codecs.getincrementaldecoder(encoding)(errors="strict")

    def _decode(self, decoder, chunk: bytes, final: bool) -> str:
        try:
            return decoder.decode(chunk, final)
        except UnicodeError as err:  # UnicodeDecodeError, or a plain UnicodeError from codecs such as idna
            start = getattr(err, "start", None)
            if start is None:
                raise DataError(f"{self.path}: the text cannot be read as {self.encoding[:40]} "
                                f"({str(err).strip()[:80] or type(err).__name__}); state the file's real encoding in "
                                f"{self.key}.encoding (utf-8, gb18030, big5, latin-1, ...) or leave it out to "
                                "detect") from None
            data = err.object
            line = self._line_at(data, start)
            bad = bytes(data[start:start + 4])
            if (codecs.lookup(self.encoding).name != "utf-8" and _decodes(_line_of(bytes(data), start), "utf-8")
                    and (self._other_text_seen or _other_text(bytes(data)[:bytes(data).rfind(b"\n", 0, start) + 1]))):
                # the lines before hold text of the encoding (not UTF-8), this one is UTF-8: two exports pasted
                # together (a whole UTF-8 file with another encoding stated gets the advice below)
                raise DataError(self._mixed(line, f"is UTF-8, not {self._name()}")) from None
            if self.stated:  # offer only encodings that read these bytes
                sample = bytes(data)  # a UTF-8 byte-order mark before text of another encoding (an editor's doing)
                sample = sample[len(codecs.BOM_UTF8):] if sample.startswith(codecs.BOM_UTF8) else sample
                fits = [name for name in _likely(sample, True)
                        if codecs.lookup(name).name != codecs.lookup(self.stated).name]
                fits = fits[:1] if fits and fits[0] in DETECTED else fits
                offer = f"it reads as {' or '.join(fits)}" if fits else "no encoding segkit knows reads it"
                raise DataError(f"{self.path} line {line}: bytes {bad!r} are not {self.encoding[:40]} ({err.reason}); "
                                f"{offer}: state the file's real encoding in {self.key}.encoding, or leave it out to "
                                "detect") from None
            raise DataError(self._mixed(line, f"does not decode as {self._name()} (bytes {bad!r})")) from None

    def _line_at(self, data: bytes, start: int) -> int:
        before = bytes(data[:start]).decode(self.encoding, errors="replace")
        return self.lines_done + _normalise_newlines(before).count("\n") + 1

    def _name(self) -> str:
        return ENCODING_NAMES.get(self.encoding, self.encoding)

    def _mixed(self, line: int, what: str) -> str:
        state = "" if self.stated else f", or state {self.key}.encoding (other lines are then refused by line)"
        return (f"{self.path} line {line} {what}, the encoding of the lines before it: the file changes its "
                f"encoding part-way (two exports pasted together?); save it again in one encoding{state}")

    def _decide(self, chunk: bytes, final: bool) -> str:
        """The encoding of the first chunk holding bytes beyond ASCII: UTF-8, GB18030 or Windows-1252."""
        try:
            codecs.getincrementaldecoder("utf-8")().decode(chunk, final)
            return "utf-8"
        except UnicodeDecodeError as err:
            before = chunk[:chunk.rfind(b"\n", 0, err.start) + 1]
            if before and _is_utf8_rather_than(before, "gb18030"):  # UTF-8 lines, then others
                self.encoding = "utf-8"
                raise DataError(self._mixed(self._line_at(chunk, err.start),
                                            f"does not decode as UTF-8 (bytes {chunk[err.start:err.start + 4]!r})")
                                ) from None
        readings = {}
        for candidate in ("gb18030", "cp1252"):
            try:
                readings[candidate] = codecs.getincrementaldecoder(candidate)().decode(chunk, final)
            except UnicodeDecodeError as err:
                if candidate == "gb18030":
                    self._refuse_gb18030_then_other(chunk, err.start)
                continue
        if "gb18030" in readings and plausibility(readings["gb18030"]) >= 0.5:
            return "gb18030"
        if "cp1252" in readings and _latin_like(chunk):
            return "cp1252"
        start = next(i for i, b in enumerate(chunk) if b > 0x7F)
        line = self.lines_done + _normalise_newlines(chunk[:start].decode("ascii")).count("\n") + 1
        fits = [name for name in ("gb18030", *SUGGESTED) if _reads(chunk, name, final)]
        advice = (f"it reads as {' or '.join(fits)}: state that in {self.key}.encoding" if fits else
                  f"state its encoding in {self.key}.encoding, or check that it is a text file")
        tried = ", ".join(ENCODING_NAMES.values())
        raise DataError(f"{self.path} line {line}: the encoding is not one segkit detects (tried {tried}; bytes "
                        f"{chunk[start:start + 4]!r}); {advice}, or save it again as UTF-8")

    def _refuse_gb18030_then_other(self, chunk: bytes, start: int) -> None:
        """Lines of GB18030 (Chinese text that reads plausibly so), then a line that is not: the file
        changes its encoding part-way (a GBK export with UTF-8 lines pasted after it). Raises the
        message naming that line (UTF-8 when it reads as UTF-8); returns when the lines before it
        are not GB18030 text."""
        before = chunk[:chunk.rfind(b"\n", 0, start) + 1]
        if not before or not any(b > 0x7F for b in before):
            return
        try:
            text = before.decode("gb18030")
        except UnicodeDecodeError:
            return
        if plausibility(text) < 0.5:
            return
        self.encoding = "gb18030"
        line = self._line_at(chunk, start)
        what = ("is UTF-8, not GB18030 (GBK)" if _decodes(_line_of(chunk, start), "utf-8")
                else f"does not decode as GB18030 (GBK) (bytes {chunk[start:start + 4]!r})")
        raise DataError(self._mixed(line, what))

    def _check_pasted(self, raw: bytes) -> None:
        """Refuse the first run of bytes beyond ASCII in `raw` (a chunk as read, in a GB18030 or
        Windows-1252 file) that is plainly UTF-8: valid UTF-8 that reads better so (`_run_is_utf8`).
        Such runs never span lines; each distinct run is judged once."""
        runs = set(_HIGH_RUN.findall(raw))
        pasted = {run for run in runs if _run_is_utf8(run, self.encoding)}
        if pasted:
            start = next(m.start() for m in _HIGH_RUN.finditer(raw) if m.group() in pasted)
            line = self._line_at(raw, start)
            if self.stated and not self._other_text_seen and not _other_text(raw[:raw.rfind(b"\n", 0, start) + 1]):
                # no text of the stated encoding before it: the file is UTF-8, and another encoding was stated
                raise DataError(f"{self.path} line {line} is UTF-8, not {self._name()} (no text before it is "
                                f"{self._name()}): the file reads as utf-8: state that in {self.key}.encoding, or "
                                "leave it out to detect")
            raise DataError(self._mixed(line, f"is UTF-8, not {self._name()}"))


def _other_text(data: bytes) -> bool:
    """Whether `data` hold bytes beyond ASCII that are not UTF-8 (text of another encoding)."""
    return any(b > 0x7F for b in data) and not _decodes(data, "utf-8")


def _line_of(data: bytes, start: int) -> bytes:
    """The line of `data` (without its line end) that holds the byte at `start`."""
    begin = data.rfind(b"\n", 0, start) + 1
    end = data.find(b"\n", start)
    return data[begin:end if end >= 0 else len(data)].rstrip(b"\r")


def _decodes(data: bytes, encoding: str) -> bool:
    try:
        data.decode(encoding)
        return True
    except UnicodeDecodeError:
        return False


def _utf8_after_bom(head: bytes, stated: str | None) -> bool:
    """Whether a UTF-8 byte-order mark at the start of `head` is that of UTF-8 text: the stated
    encoding is UTF-8, or none is stated and the bytes after it decode as UTF-8 (a character cut at
    the end of the chunk aside)."""
    if stated is not None:
        return codecs.lookup(stated).name in ("utf-8", "utf-8-sig")
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head[len(codecs.BOM_UTF8):], False)
        return True
    except UnicodeDecodeError:
        return False


def _bom_encoding(head: bytes) -> str | None:
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return "utf-32"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    return None


def _utf16_without_bom(head: bytes) -> str | None:
    """UTF-16 without a byte-order mark: ASCII text has a NUL byte beside every character."""
    sample = head[:4096 - 4096 % 2]
    if len(sample) < 4:
        return None
    even, odd = sample[0::2].count(0), sample[1::2].count(0)
    if odd > 0.3 * len(sample) / 2 and even == 0:
        return "utf-16-le"
    if even > 0.3 * len(sample) / 2 and odd == 0:
        return "utf-16-be"
    return None


def _latin_like(chunk: bytes) -> bool:
    """Whether the bytes beyond ASCII stand mostly alone, as accented letters and signs do in
    Windows-1252 text ("Crème", "£12"); double-byte encodings (GBK, Big5, Shift-JIS) pair them."""
    runs = re.findall(rb"[\x80-\xff]+", chunk)
    high = sum(len(run) for run in runs)
    return high > 0 and sum(len(run) for run in runs if len(run) > 1) < 0.5 * high


def _likely(chunk: bytes, final: bool) -> list[str]:
    """The encodings that may be those of `chunk`, most likely first: UTF-8 when it reads it; GB18030
    when its reading is plausible Chinese; Windows-1252 when the bytes beyond ASCII stand alone; then
    those of SUGGESTED that read it."""
    fits = [name for name in ("utf-8",) if _reads(chunk, name, final)]
    try:
        if plausibility(codecs.getincrementaldecoder("gb18030")().decode(chunk, final)) >= 0.5:
            fits.append("gb18030")
    except UnicodeDecodeError:
        pass
    if _reads(chunk, "cp1252", final) and _latin_like(chunk):
        fits.append("cp1252")
    return fits + [name for name in SUGGESTED if _reads(chunk, name, final)]


def _reads(chunk: bytes, encoding: str, final: bool) -> bool:
    try:
        codecs.getincrementaldecoder(encoding)().decode(chunk, final)
        return True
    except UnicodeDecodeError:
        return False


# -- records ----------------------------------------------------------------------------------

def _lines(chunks: Iterator[str]) -> Iterator[str]:
    """Lines (each ending in "\\n") from text chunks."""
    carry = ""
    for chunk in chunks:
        parts = (carry + chunk).split("\n")
        carry = parts.pop()
        for part in parts:
            yield part + "\n"
    if carry:
        yield carry


def sniff_separator(lines: list[str], preferred: str) -> str:
    """The separator of the table whose header is `lines[0]`: the one of comma, semicolon, tab and
    pipe (the `preferred` one first, on a tie) that splits the header into the most columns and the
    other lines into as many (or into as many plus empty trailing values); else "spaces" when runs
    of blanks split the lines alike; else `preferred`."""
    lines = [line for line in lines if line.strip()]
    if not lines:
        return preferred
    best, best_score = preferred, None
    for sep in dict.fromkeys([preferred, ",", ";", "\t", "|"]):
        if sep == "spaces":
            continue
        try:
            rows = list(csv.reader(lines, delimiter=sep))
        except csv.Error:
            continue
        width = len(rows[0])
        if width < 2:
            continue
        body = rows[1:]
        fits = sum(len(r) == width or (len(r) > width and not "".join(r[width:]).strip()) for r in body)
        score = (round(fits / len(body), 2) if body else 1.0, width)
        if best_score is None or score > best_score:
            best, best_score = sep, score
    if best_score is not None and best_score[0] >= 0.5:
        return best
    widths = [len(line.split()) for line in lines]
    if widths[0] >= 2 and sum(w == widths[0] for w in widths) >= 0.9 * len(widths):
        return "spaces"
    return preferred if best_score is None else best


@dataclass
class TextTable:
    """A delimited text file read as a stream of Arrow record batches of strings.

    `path` may be compressed (see `open_bytes`); `encoding` and `separator` None mean detect them
    (module docstring); `header_row` is the 1-based line of the column names (after an Excel
    `sep=` line, which is not part of the table); `preferred` is the separator of the format named
    by the suffix or the params ("," for csv, "\\t" for tsv); `key` names the table in the params,
    for the messages.

    After (or while) reading `batches()`: `encoding`, `separator` (a character or "spaces"),
    `header_line` (the header's line in the file), `columns` (the header's names; an empty name is
    "Unnamed: <position from 0>") and `blank_lines` (lines skipped as holding only blanks). Each
    batch holds `source_row` (int64, the record's first line in the file) then one string column per
    header name, None where the value is empty. Raises DataError for every file it cannot read.
    """

    path: Path
    key: str = "source.transactions"
    encoding: str | None = None
    separator: str | None = None
    header_row: int = 1
    preferred: str = ","
    member: str | None = None
    batch_rows: int = BATCH_ROWS
    header_line: int = field(default=0, init=False)
    columns: list[str] = field(default_factory=list, init=False)
    blank_lines: int = field(default=0, init=False)
    parser: str = field(default="", init=False)  # "arrow" (fast), or "csv" (Python's csv module, line by line)

    def batches(self) -> Iterator[pa.RecordBatch]:
        done = 0
        self.parser = "arrow"
        self.blank_lines = 0  # counted again by each reading of the file
        try:
            with open_bytes(self.path, self.key, self.member) as stream:
                decoded = Decoded(stream, self.path, self.key, self.encoding)
                for batch in self._records(decoded, fast=True):
                    done += batch.num_rows
                    yield batch
                self.encoding = decoded.encoding
                return
        except _SlowPath:  # a line Arrow's parser does not take as the csv module does: read again, by line
            pass
        self.parser = "csv"
        self.blank_lines = 0
        with open_bytes(self.path, self.key, self.member) as stream:
            decoded = Decoded(stream, self.path, self.key, self.encoding)
            yield from self._records(decoded, fast=False, skip=done)
            self.encoding = decoded.encoding

    def header(self) -> list[str]:
        """The column names, reading no further than the header line."""
        with open_bytes(self.path, self.key, self.member) as stream:
            decoded = Decoded(stream, self.path, self.key, self.encoding)
            for _ in self._records(decoded, header_only=True):
                pass
        return self.columns

    def has_rows(self) -> bool:
        """Whether a record follows the header, reading line by line (the csv module, no reader
        threads) and no further than the first record."""
        with open_bytes(self.path, self.key, self.member) as stream:
            decoded = Decoded(stream, self.path, self.key, self.encoding)
            records = self._records(decoded)
            try:
                return any(batch.num_rows for batch in records)
            finally:
                records.close()

    def read(self) -> pa.Table:
        """All the batches as one Arrow table (schema from the header when there are no records)."""
        batches = list(self.batches())
        schema = pa.schema([("source_row", pa.int64()), *((name, pa.string()) for name in self.columns)])
        return pa.Table.from_batches(batches, schema=schema)

    def _records(self, decoded: Decoded, header_only: bool = False, fast: bool = False,
                 skip: int = 0) -> Iterator[pa.RecordBatch]:
        limit = csv.field_size_limit()
        csv.field_size_limit(2**31 - 1)  # a quoted value may be longer than the csv module's 128 KiB default
        try:
            yield from self._read_records(decoded, header_only, fast, skip)
        finally:
            csv.field_size_limit(limit)

    def _read_records(self, decoded: Decoded, header_only: bool, fast: bool, skip: int) -> Iterator[pa.RecordBatch]:
        chunks = iter(decoded)
        text, at_end = "", True
        for chunk in chunks:  # enough lines to find the header and sniff the separator
            text += chunk
            if text.count("\n") >= self.header_row + 1 + SNIFF_LINES:
                at_end = False
                break
        if not text.strip() and not any(chunk.strip() for chunk in chunks):
            raise DataError(f"{self.path}: the file is empty; export it again with a header row")
        peeked = text.split("\n")
        complete = peeked if at_end and peeked[-1] else peeked[:-1]  # lines read whole
        first = 0
        stated = self.separator
        excel_sep = re.fullmatch(r"sep=(.)\s*", peeked[0])
        if excel_sep:  # Excel's first line "sep=;" names the separator and is not part of the table
            stated = stated or excel_sep.group(1)
            first = 1
        self.header_line = first + self.header_row
        header = complete[self.header_line - 1] if self.header_line <= len(complete) else None
        sample = [line + "\n" for line in complete[self.header_line - 1:self.header_line + SNIFF_LINES]]
        sep = stated or sniff_separator(sample, self.preferred)
        self.separator = sep
        blank = "".join(set(" \t" + ("" if sep == "spaces" else sep)))
        if header is None or not header.strip(blank):
            raise DataError(f"{self.path}: no header at line {self.header_line} (the line is "
                            f"{'missing' if header is None else 'empty'}); set {self.key}.header_row to the line "
                            "that holds the column names")
        # the text from the header on: the rest of the peeked text, then the chunks not read yet
        offset = sum(len(line) + 1 for line in peeked[:self.header_line - 1])
        body = itertools.chain(iter([text[offset:]]), chunks)
        if fast and sep == "spaces":
            raise _SlowPath
        if fast:
            names, width, consumed, rest = self._header(body, sep)
            if header_only:
                return
            if all(len(row) == width for row in csv.reader(sample[consumed:consumed + SNIFF_LINES], delimiter=sep)
                   if row):
                yield from self._arrow(rest, sep, width, first_line=self.header_line + consumed)
                return
            raise _SlowPath
        lines = _lines(body)
        if sep == "spaces":
            lines = (line.strip().replace("\t", " ") + "\n" for line in lines)
        tracked = _Tracked(lines)
        reader = csv.reader(tracked, delimiter=" " if sep == "spaces" else sep, skipinitialspace=sep == "spaces")
        try:
            yield from self._rows(reader, header_only, skip, tracked)
        except csv.Error as err:
            raise DataError(f"{self.path} line {self.header_line - 1 + reader.line_num}: {err}; check the quotes "
                            f"and the separator ({SEPARATORS.get(sep, repr(sep))}), or state {self.key}.separator"
                            ) from None

    def _names(self, cells: list[str]) -> list[str]:
        names = [cell.strip() for cell in cells]
        names = [name or f"Unnamed: {i}" for i, name in enumerate(names)]
        if all(name.startswith("Unnamed: ") for name in names):
            raise DataError(f"{self.path}: no header at line {self.header_line}; set {self.key}.header_row to the "
                            "line that holds the column names")
        check_header(names, f"{self.path} line {self.header_line}", transactions=self.key == "source.transactions")
        self.columns = names
        return names

    def _header(self, body: Iterator[str], sep: str):
        """The header record from the text `body` (which starts with it): its names, their number, the
        lines it spans, and the text after it."""
        text = ""
        for chunk in body:
            text += chunk
            if "\n" in text:
                lines = text.split("\n")
                reader = csv.reader((line + "\n" for line in lines[:-1]), delimiter=sep)
                try:
                    cells = next(reader)
                except (StopIteration, csv.Error):
                    if len(text) > 8 * CHUNK_BYTES:  # an unclosed quote: let the csv module say where
                        raise _SlowPath from None
                    continue  # the header spans more text (a quoted name with a line break)
                if reader.line_num < len(lines) - 1 or text.endswith("\n"):
                    consumed = reader.line_num
                    offset = sum(len(line) + 1 for line in lines[:consumed])
                    names = self._names(cells)
                    return names, len(names), consumed, itertools.chain(iter([text[offset:]]), body)
        cells = next(csv.reader([text], delimiter=sep), [])  # a file of one line: the header alone
        names = self._names(cells)
        return names, len(names), 1, iter([])

    def _arrow(self, rest: Iterator[str], sep: str, width: int, first_line: int) -> Iterator[pa.RecordBatch]:
        """The records after the header, parsed by Arrow's CSV reader; their lines come from `_Body`.
        Each batch is given out once the next one is parsed, so that a quote left open at the end
        (Arrow would take the rest of the file as one value) is found before the last one goes."""
        import pyarrow.csv as pacsv

        body = _Body(rest, first_line=first_line, sep=sep)
        fields = [f"f{i}" for i in range(width)]
        options = dict(
            read_options=pacsv.ReadOptions(column_names=fields, block_size=4 << 20),
            parse_options=pacsv.ParseOptions(delimiter=sep, newlines_in_values=True, ignore_empty_lines=True),
            convert_options=pacsv.ConvertOptions(column_types={f: pa.string() for f in fields}, null_values=[""],
                                                 strings_can_be_null=True, quoted_strings_can_be_null=True))
        pending: list[pa.RecordBatch] = []
        try:
            reader = pacsv.open_csv(body, **options)
            for batch in reader:
                if len(body.starts) < batch.num_rows:
                    raise _SlowPath
                starts = [body.starts.popleft() for _ in range(batch.num_rows)]
                yield from pending
                pending = []
                for offset in range(0, batch.num_rows, self.batch_rows):
                    pending += self._kept(batch.slice(offset, self.batch_rows), starts[offset:offset + self.batch_rows])
        except (pa.ArrowException, OSError) as err:
            if isinstance(body.error, Exception):
                raise body.error from None
            raise _SlowPath from err
        if body.error is not None:
            raise body.error
        if body.parity:  # the quotes are balanced everywhere else (_Body), so this one is never closed
            raise DataError(f"{self.path} line {body.last_start}: a quoted value opens in this record and is not "
                            "closed before the end of the file (the rest of the file would be one value); check the "
                            'quotes there (a quote inside a quoted value is written twice: "")')
        if body.starts:  # rows that Arrow and the line count see apart
            raise _SlowPath
        self.blank_lines += body.empty_lines
        yield from pending

    def _kept(self, batch: pa.RecordBatch, starts: list[int]) -> Iterator[pa.RecordBatch]:
        """The batch under the header's names, without records whose values are all blank."""
        blank = None
        for column in batch.columns:
            empty = pc.or_kleene(pc.is_null(column), pc.equal(pc.utf8_trim_whitespace(column), ""))
            blank = empty if blank is None else pc.and_kleene(blank, empty)
        keep = pc.invert(blank) if blank is not None else None
        arrays = [pa.array(starts, pa.int64()), *batch.columns]
        out = pa.RecordBatch.from_arrays(arrays, names=["source_row", *self.columns])
        if keep is not None and not pc.all(keep).as_py():
            self.blank_lines += batch.num_rows - pc.sum(keep).as_py()
            out = out.filter(keep)
        if out.num_rows:
            yield out

    def _rows(self, reader, header_only: bool, skip: int, tracked: "_Tracked") -> Iterator[pa.RecordBatch]:
        base = self.header_line - 1
        names = self._names(next(reader))
        if header_only:
            return
        width = len(names)
        rows: list[list[str]] = []
        starts: list[int] = []
        previous = reader.line_num
        start, last = 0, []
        for row in reader:
            start = base + previous + 1
            previous = reader.line_num
            last, tracked.lines = tracked.lines, []
            if not "".join(row).strip():
                self.blank_lines += 1
                continue
            if len(row) != width:
                if len(row) < width:
                    row = row + [""] * (width - len(row))
                elif not "".join(row[width:]).strip():  # a trailing separator: no value there
                    row = row[:width]
                else:
                    raise DataError(
                        f"{self.path} line {start}: {len(row)} values, but the header (line {self.header_line}) names "
                        f"{counted(width, 'column', 'columns')}; check the separator (read as {SEPARATORS.get(self.separator, repr(self.separator))})"
                        f" and the quotes, or state {self.key}.separator")
            if skip:  # given out already by the Arrow reader
                skip -= 1
                continue
            rows.append(row)
            starts.append(start)
            if len(rows) >= self.batch_rows:
                yield self._batch(rows, starts)
                rows, starts = [], []
        if last and "\n" in "".join(last)[:-1]:  # the last record spans lines: is a quote left open?
            try:
                list(csv.reader(last, delimiter=reader.dialect.delimiter, strict=True))
            except csv.Error as err:
                if "unexpected end of data" in str(err):
                    raise DataError(f"{self.path} line {start}: a quoted value opens in this record and is not closed "
                                    "before the end of the file (the rest of the file would be one value); check the "
                                    'quotes there (a quote inside a quoted value is written twice: "")') from None
        if rows:
            yield self._batch(rows, starts)

    def _batch(self, rows: list[list[str]], starts: list[int]) -> pa.RecordBatch:
        arrays = [pa.array(starts, pa.int64())]
        empty = pa.scalar(None, pa.string())
        for values in zip(*rows):
            array = pa.array(values, pa.string())
            arrays.append(pc.if_else(pc.equal(array, ""), empty, array))
        return pa.RecordBatch.from_arrays(arrays, names=["source_row", *self.columns])


class _Tracked:
    """An iterator of lines that keeps those given since `lines` was last emptied (one record's)."""

    def __init__(self, lines: Iterator[str]):
        self.source, self.lines = lines, []

    def __iter__(self) -> "_Tracked":
        return self

    def __next__(self) -> str:
        line = next(self.source)
        self.lines.append(line)
        return line


class _SlowPath(Exception):
    """Arrow's reader cannot take this file as the csv module reads it: read it by line instead."""


class _Body(io.RawIOBase):
    """The UTF-8 bytes of text chunks, for Arrow's CSV reader, noting the file line on which each
    record starts (`starts`) and the empty lines between records (`empty_lines`).

    A line break ends a record when an even number of quote characters comes before it (RFC 4180:
    quotes open and close quoted values, and a quote inside one is doubled); a quote elsewhere (`5"
    screen`) makes the count meaningless, so such a file is read by the csv module instead.
    """

    def __init__(self, chunks: Iterator[str], first_line: int, sep: str):
        self.chunks, self.line, self.sep = chunks, first_line, ord(sep)
        self.data, self.offset = b"", 0
        self.parity, self.at_start, self.previous = 0, True, 10
        self.starts: collections.deque[int] = collections.deque()
        self.empty_lines = 0
        self.last_start = first_line
        self.error: BaseException | None = None

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        while self.offset >= len(self.data):
            try:
                chunk = next(self.chunks, None)
                if chunk is None:
                    return b""
                self.data, self.offset = chunk.encode("utf-8"), 0
                self._scan(self.data)
            except BaseException as err:  # Arrow reports its own error: keep ours to raise it
                self.error = err
                raise
        end = len(self.data) if size is None or size < 0 else self.offset + size
        out = self.data[self.offset:end]
        self.offset += len(out)
        return out

    def readinto(self, buffer) -> int:
        out = self.read(len(buffer))
        buffer[:len(out)] = out
        return len(out)

    def _scan(self, data: bytes) -> None:
        arr = np.frombuffer(data, np.uint8)
        if not len(arr):
            return
        is_quote = arr == 34
        if is_quote.any():
            before = np.concatenate([[self.previous], arr[:-1]])
            after = np.concatenate([arr[1:], [10]])  # the last quote of a chunk: judged as if a line ended
            edge = (before == self.sep) | (before == 10) | (before == 34) | (after == self.sep) | (after == 10) | \
                (after == 34)
            if not edge[is_quote].all():
                raise _SlowPath
        newlines = np.flatnonzero(arr == 10)
        quotes = np.cumsum(is_quote)
        ends = newlines[(self.parity + quotes[newlines]) % 2 == 0]
        candidates = ends + 1
        if self.at_start:
            candidates = np.concatenate([[0], candidates])
        self.at_start = bool(len(candidates)) and candidates[-1] == len(arr)
        candidates = candidates[candidates < len(arr)]
        empty = arr[candidates] == 10
        self.empty_lines += int(empty.sum())
        starts = candidates[~empty]
        lines = (self.line + np.searchsorted(newlines, starts)).tolist()
        self.starts.extend(lines)
        self.last_start = lines[-1] if lines else self.last_start
        self.line += len(newlines)
        self.parity = (self.parity + int(quotes[-1])) % 2
        self.previous = int(arr[-1])


def refuse_row_column(names: list[str], where: str) -> None:
    """Raise the DataError for a transactions table with a column named source_row: the name the
    readers give each row's line in the file (the numbers the quarantine and the ledger show).
    Another table's such column is not read (its rows are not numbered for the run's messages)."""
    if "source_row" in names:
        raise DataError(f'{where}: column {names.index("source_row") + 1} is named "source_row", the name segkit gives '
                        "each row's line in the file; rename that column in the file (e.g. to original_row)")


def check_header(names: list[str], where: str, transactions: bool = True) -> None:
    """Refuse a header that names a column twice: which of the two is meant cannot be known; and, in
    a transactions table, a column named source_row (`refuse_row_column`)."""
    if transactions:
        refuse_row_column(names, where)
    seen: dict[str, int] = {}
    for position, name in enumerate(names, start=1):
        if name.startswith("Unnamed: "):
            continue
        if name in seen:
            raise DataError(f'{where}: the header names column "{name[:60]}" twice (columns {seen[name]} and '
                            f"{position}); rename one of them in the file")
        seen[name] = position
