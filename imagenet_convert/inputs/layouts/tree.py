"""What ``--input`` holds: every file under it with its size (its locator made on demand), and
what is junk or broken.

A folder is listed once (a local walk that sees symbolic links, or an object store's prefix
listing); a ZIP is listed from its central directory. Layouts then only look names up here.
"""

from __future__ import annotations

import errno
import os
import stat
import zipfile
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from apache_beam.io.filesystems import FileSystems

from imagenet_convert.errors import shown
from imagenet_convert.inputs.archives import MAX_FILE_BYTES, ArchiveError, open_input, too_large
from imagenet_convert.inputs.layouts.locators import ZIP_LOCAL_HEADER, Locator, read_file
from imagenet_convert.inputs.ordered import in_order
from imagenet_convert.storage.paths import is_local

JUNK_NAMES = frozenset({".DS_Store", "Thumbs.db", "desktop.ini", "__MACOSX"})
"""Files (and folders) that file managers leave behind; ``._*`` (AppleDouble) files are junk too."""


WALK_THREADS = 2
"""Folders listed at once. More threads spend their time on the GIL: on this 2-core VM, listing
1.9 M files took 16.9 s cold and 10.1 s warm with 2 threads, 31.5 s and 20.2 s with 16."""
READ_THREADS = 8
"""Small files read at once: 562,615 XML files with their data evicted took 18.9 s with 8
threads, 20.1 s with 4 and 24.9 s with 16 (the reads' waits overlap, until the GIL is the limit)."""
READ_CHUNK = 64


def is_junk(name: str) -> bool:
    return name in JUNK_NAMES or name.startswith("._")


@dataclass
class Tree:
    """Files by '/'-separated path relative to ``root``, with their own (inflated) sizes.

    One int per path, not a locator: a listing of 1.84 M files held three objects a file.
    """

    root: str
    files: dict[str, int] = field(default_factory=dict)
    zip_name: str = ""
    """The ZIP the paths are members of; empty for a folder."""
    members: dict[str, tuple[int, int]] = field(default_factory=dict)
    """A ZIP member's (local header offset, compressed size)."""
    junk: list[str] = field(default_factory=list)
    broken: dict[str, str] = field(default_factory=dict)
    """Path -> problem (broken or looping link, unreadable, not a regular file)."""
    outside: list[tuple[str, str]] = field(default_factory=list)
    """(link, target) of the first ``OUTSIDE_LISTED`` symbolic links followed out of ``root``."""
    outside_count: int = 0
    newest: tuple[float, str] = (0.0, "")
    """(modification time, path) of the file modified last: one figure a resume checks for a million
    files (a file per entry would cost the launcher a hundred megabytes)."""
    _under: dict[str, list[str]] = field(default_factory=dict, repr=False)

    def add(self, path: str, size: int, mtime: float = 0.0) -> None:
        self.files[path] = size
        if mtime > self.newest[0]:
            self.newest = (mtime, path)
        self._under.clear()

    def where(self, path: str) -> str:
        """The file ``path`` as messages name it: the ZIP's member, or the file itself (printable)."""
        return f"{self.zip_name}: member {shown(path)}" if self.zip_name else shown(path)

    def locator(self, path: str) -> Locator:
        """Where the file's bytes are: the whole file, or a ZIP member's range of the ZIP."""
        if self.zip_name:
            offset, size = self.members[path]
            return Locator(self.zip_name, offset, size, True)
        return Locator(path, 0, self.files[path])

    def read(self, path: str) -> bytes:
        """A small file's bytes (a devkit, a CSV, an XML file), at most ``MAX_FILE_BYTES``."""
        size = self.files[path]
        if size > MAX_FILE_BYTES:
            raise ArchiveError(f"{shown(path)}: {too_large(size)}")
        if not is_local(self.root) or self.zip_name:
            return read_file(self.root, self.locator(path), shown(path), path)
        # Half a million XML files: os.read costs a third of the builtin open, a tenth of Beam's
        # per-file machinery. O_NONBLOCK: a file replaced by a FIFO since the listing must not hang.
        try:
            handle = os.open(os.path.join(self.root, path), os.O_RDONLY | os.O_NONBLOCK)
            try:
                data = os.read(handle, size + 1)
                while len(data) > size and (more := os.read(handle, 1 << 20)):
                    data += more  # it grew since it was listed
                    if len(data) > MAX_FILE_BYTES:
                        raise ArchiveError(f"{shown(path)}: {too_large()}")
                return data
            finally:
                os.close(handle)
        except OSError as exc:
            raise ArchiveError(f"{shown(path)}: cannot read ({exc.strerror})") from None

    def read_many(self, paths: list[str]) -> Iterator[tuple[str, bytes]]:
        """(path, bytes) of many small files in order, read ahead in threads (the XML of a split).

        Each thread reads a run of ``READ_CHUNK`` files: a task per file cost more than its read.
        """
        chunks = [paths[i : i + READ_CHUNK] for i in range(0, len(paths), READ_CHUNK)]
        with ThreadPoolExecutor(READ_THREADS) as pool:
            runs = in_order(pool, lambda run: [self.read(p) for p in run], chunks, 2 * READ_THREADS)
            for chunk, data in zip(chunks, runs, strict=True):
                yield from zip(chunk, data, strict=True)

    def under(self, prefix: str) -> list[str]:
        """Paths below the folder ``prefix`` (no trailing slash), sorted; computed once per prefix."""
        if not self._under:
            by_top: dict[str, list[str]] = {}
            for path in self.files:
                top, slash, _ = path.partition("/")
                if slash:
                    by_top.setdefault(top, []).append(path)
            self._under.update((top, sorted(paths)) for top, paths in by_top.items())
        if prefix not in self._under:
            start = prefix + "/"
            self._under[prefix] = [
                p for p in self._under.get(prefix.split("/", 1)[0], []) if p.startswith(start)
            ]
        return self._under[prefix]


Scanned = tuple[str, os.stat_result | OSError | None, str]
"""(name, stat result or the error of stat, link target or '') of one folder entry; None: junk."""

OUTSIDE_LISTED = 100
"""Links out of the input named in run_report.json (all are counted): a tree of links, one per image,
would otherwise put a million lines there."""


PREFETCHED = (".xml",)
"""Files planning reads whole (box XML): the disk starts on them while the listing goes on."""


def _prefetch(path: str) -> None:
    """Ask the kernel to read a small regular file into the page cache, without waiting for it; a
    file that cannot be opened is reported when it is read."""
    try:
        handle = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # never waits, should it be a FIFO by now
    except OSError:
        return
    try:
        os.posix_fadvise(handle, 0, 0, os.POSIX_FADV_WILLNEED)
    except OSError:
        pass
    finally:
        os.close(handle)


def _scan(folder: str) -> list[Scanned] | OSError:
    """One folder's entries with their stat, run in threads: on a cold disk each stat waits for an
    inode, and a million of them one after the other would take minutes."""
    try:
        entries = list(os.scandir(folder))
    except OSError as exc:
        return exc
    scanned: list[Scanned] = []
    for entry in entries:
        if is_junk(entry.name):
            scanned.append((entry.name, None, ""))
            continue
        target = _link_target(entry)
        try:
            info = entry.stat()  # follows symbolic links
        except OSError as exc:
            scanned.append((entry.name, exc, target))
            continue
        scanned.append((entry.name, info, target))
        if entry.name.endswith(PREFETCHED) and stat.S_ISREG(info.st_mode):  # opening a FIFO would wait
            _prefetch(entry.path)
    return scanned


def _link_target(entry: os.DirEntry) -> str:
    try:
        return os.readlink(entry.path) if entry.is_symlink() else ""
    except OSError:  # gone since it was listed
        return ""


def _inside(path: str, roots: tuple[str, ...]) -> bool:
    return any(path == root or path.startswith(root.rstrip("/") + "/") for root in roots)


def _identity(path: str | None) -> tuple[int, int] | None:
    try:
        found = os.stat(path) if path else None
    except OSError:
        return None
    return (found.st_dev, found.st_ino) if found else None


NOT_REGULAR = {
    stat.S_IFIFO: "a FIFO (named pipe)",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
}


def not_regular(mode: int) -> str:
    """What a file that is neither a folder nor a regular file is, for the message that refuses it."""
    return f"{NOT_REGULAR.get(stat.S_IFMT(mode), 'a special file')}, not a regular file (never opened)"


class _Walk:
    """Where a local listing stands: the folders seen (by device and inode), the output's folder to
    leave out, and the two spellings of the root that tell whether a link leads out of it."""

    def __init__(self, tree: Tree, top: os.stat_result, exclude: str | None):
        self.tree = tree
        self.roots = (os.path.abspath(tree.root), os.path.realpath(tree.root))
        self.excluded = _identity(exclude)
        self.seen = {(top.st_dev, top.st_ino)}

    def folder(self, relative: str, folder: str, scanned: list[Scanned]) -> list[tuple[str, str]]:
        """Enter one folder's entries in the tree; the (path, folder) of its subfolders to walk."""
        if not scanned and relative:
            self.tree.junk.append(relative + "/")
        below = []
        for name, info, target in scanned:
            path = f"{relative}/{name}" if relative else name
            if info is None:
                self.tree.junk.append(path)
            elif isinstance(info, OSError):
                self.tree.broken[path] = _problem(info, target)
            elif (info.st_dev, info.st_ino) == self.excluded:
                continue
            elif stat.S_ISDIR(info.st_mode):
                if self.enter(path, info, target, folder):
                    below.append((path, os.path.join(folder, name)))
            elif stat.S_ISREG(info.st_mode):
                if target:
                    self.leads_out(path, target, folder)
                self.tree.add(path, info.st_size, info.st_mtime)
            else:
                self.tree.broken[path] = not_regular(info.st_mode)
        return below

    def leads_out(self, path: str, target: str, folder: str) -> bool:
        """Whether the link ``path`` in ``folder`` leads out of the root (as its target is written,
        from its folder); one that does is noted."""
        if _inside(os.path.abspath(os.path.join(folder, target)), self.roots):
            return False
        self.tree.outside_count += 1
        if len(self.tree.outside) < OUTSIDE_LISTED:
            self.tree.outside.append((path, target))
        return True

    def enter(self, path: str, info: os.stat_result, target: str, folder: str) -> bool:
        """Whether to walk a folder: not a link to one inside the root (that is listed under its own
        name, whichever name comes first), nor one already listed (a loop through a folder outside)."""
        if target and not self.leads_out(path, target, folder):
            self.tree.broken[path] = "a symbolic link to a folder inside the input (a loop, or a second name)"
            return False
        if (info.st_dev, info.st_ino) in self.seen:
            self.tree.broken[path] = "a symbolic link to a folder already listed (a loop)"
            return False
        self.seen.add((info.st_dev, info.st_ino))
        return True


def _walk_local(tree: Tree, exclude: str | None) -> None:
    """os.scandir, not Beam's match: links must be seen to be followed, and broken ones reported.

    Links are followed, but not to a folder inside the root (see ``_Walk``); those that lead out of it
    are noted. The folder ``exclude`` (the output, should it be inside) is left out.
    """
    try:
        top = os.stat(tree.root)
    except OSError:
        return
    walk = _Walk(tree, top, exclude)
    level = [("", tree.root)]
    with ThreadPoolExecutor(WALK_THREADS) as pool:
        while level:
            below = []
            for (relative, folder), scanned in zip(
                level, pool.map(_scan, [f for _, f in level]), strict=True
            ):
                if isinstance(scanned, OSError):
                    tree.broken[relative or "."] = f"cannot be listed ({scanned.strerror})"
                else:
                    below += walk.folder(relative, folder, scanned)
            level = below


def _problem(error: OSError, link_target: str) -> str:
    if not link_target:
        return f"unreadable ({error.strerror})"
    if error.errno == errno.ELOOP:
        return "a symbolic link that loops"
    return f"a broken symbolic link (to {link_target!r})"


def _list_remote(tree: Tree, exclude: str | None) -> None:
    """An object store's prefix listing: one request per thousand objects, no folders to walk."""
    prefix = tree.root.rstrip("/") + "/"
    excluded = exclude.rstrip("/") + "/" if exclude else None
    try:
        found = FileSystems.match([prefix + "**"])[0].metadata_list
    except Exception as exc:  # BeamIOError and friends, by scheme
        raise ArchiveError(f"{tree.root}: cannot list the input folder ({exc})") from None
    for meta in found:
        path = meta.path[len(prefix) :]
        if path.endswith("/"):  # a console's "folder" marker
            continue
        if excluded and meta.path.startswith(excluded):
            continue
        if any(is_junk(part) for part in path.split("/")):
            tree.junk.append(path)
            continue
        tree.add(path, meta.size_in_bytes, meta.last_updated_in_seconds)


def special_file(path: str) -> str | None:
    """What a local ``path`` is when it exists but is neither a regular file nor a folder (opening a
    FIFO would wait forever); None otherwise."""
    try:
        mode = os.stat(path).st_mode if is_local(path) else stat.S_IFREG
    except OSError:
        return None
    return None if stat.S_ISREG(mode) or stat.S_ISDIR(mode) else not_regular(mode)


def file_size(path: str) -> int | None:
    """The size of one file (local or object store), None if there is none."""
    try:
        found = FileSystems.match([path])[0].metadata_list
    except Exception:  # BeamIOError and friends, by scheme
        return None
    return found[0].size_in_bytes if found else None


def list_folder(root: str, exclude: str | None = None) -> Tree:
    """Everything under a local folder or an object-store prefix, but the folder ``exclude``."""
    tree = Tree(root if is_local(root) else root.rstrip("/"))
    if not is_local(root):
        _list_remote(tree, exclude)
    else:
        _walk_local(tree, exclude)
    tree.junk.sort()
    return tree


def _check_members(name: str, infos: list[zipfile.ZipInfo], directory: int) -> None:
    """Each member once, in bytes of its own: a name listed twice (which copy?), or members whose
    bytes overlap (a decompression bomb's trick, or a damaged central directory), are refused."""
    counts = Counter(info.filename for info in infos)
    twice = sorted(member for member, count in counts.items() if count > 1)
    if twice:
        more = f" (and {len(twice) - 1} more names)" if len(twice) > 1 else ""
        raise ArchiveError(
            f"{name}: member {shown(twice[0])} is listed {counts[twice[0]]} times{more}: which copy is "
            "meant cannot be told; the ZIP is damaged or was repacked badly, download it again"
        )
    ordered = sorted(infos, key=lambda info: info.header_offset)  # already in this order, as a rule
    for info, after in zip(ordered, [*ordered[1:], None], strict=True):
        end = info.header_offset + ZIP_LOCAL_HEADER.size + info.compress_size  # name and extra not counted
        if end > (after.header_offset if after else directory):
            where = f"member {shown(after.filename)}" if after else "the central directory"
            raise ArchiveError(
                f"{name}: member {shown(info.filename)} overlaps {where}: the central directory is damaged "
                "or hostile (overlapping members inflate the same bytes again); download it again"
            )


def list_zip(root: str, name: str) -> Tree:
    """The members of the ZIP ``name`` under ``root``, read from its central directory only."""
    tree = Tree(root, zip_name=name)
    try:
        with open_input(FileSystems.join(root, name)) as stream, zipfile.ZipFile(stream) as archive:
            infos, directory = archive.infolist(), archive.start_dir
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise ArchiveError(
            f"{name}: not a readable ZIP ({exc}); the download is incomplete or damaged, download it again"
        ) from None
    _check_members(name, infos, directory)
    for info in infos:
        if info.is_dir():
            continue
        if any(is_junk(part) for part in info.filename.split("/")):
            tree.junk.append(info.filename)
            continue
        tree.add(info.filename, info.file_size)
        tree.members[info.filename] = (info.header_offset, info.compress_size)
    return tree
