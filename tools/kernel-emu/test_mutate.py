"""Tests of mutate.py's record of a passing run (python3 -m unittest discover -s tools/kernel-emu)."""
import os
import tempfile
import unittest

import mutate


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


class VerdictDigest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.root = os.path.join(self.tmp.name, "repo")
        self.build = os.path.join(self.tmp.name, "build")
        write(os.path.join(self.root, "kernels", "gemv.cu"), "kernel v1")
        write(os.path.join(self.root, "tools", "kernel-emu", "tests", "t_gemv.cpp"), "test v1")
        write(os.path.join(self.root, "scripts", "emulate-kernels.sh"), "script v1")
        write(os.path.join(self.build, "cases.txt"), "gemv 1x8x8 f32\n")
        write(os.path.join(self.build, "plans.txt"), "kernel hp_gemv 1 1 1 128 1 1 0 i32:8\n")

    def tearDown(self):
        self.tmp.cleanup()

    def digest(self, san=("--no-sanitize",), only=""):
        return mutate.verdict_digest(self.root, self.build, list(san), only)

    def test_the_same_inputs_give_the_same_digest(self):
        self.assertEqual(self.digest(), self.digest())
        # A cache of Python's beside the emulator's files is not an input.
        write(os.path.join(self.root, "tools", "kernel-emu", "__pycache__", "mutate.pyc"), "x")
        first = self.digest()
        write(os.path.join(self.root, "tools", "kernel-emu", "__pycache__", "mutate.pyc"), "y")
        self.assertEqual(first, self.digest())

    def test_every_input_changes_the_digest(self):
        seen = {self.digest()}
        edits = [
            (os.path.join(self.root, "kernels", "gemv.cu"), "kernel v2"),
            (os.path.join(self.root, "kernels", "hotpath_common.cuh"), "a new header"),
            (os.path.join(self.root, "tools", "kernel-emu", "tests", "t_gemv.cpp"), "test v2"),
            (os.path.join(self.root, "tools", "kernel-emu", "mutate.py"), "one more mutation"),
            (os.path.join(self.root, "scripts", "emulate-kernels.sh"), "script v2"),
            (os.path.join(self.build, "plans.txt"), "kernel hp_gemv 2 1 1 128 1 1 0 i32:8\n"),
            (os.path.join(self.build, "cases.txt"), "gemv 2x8x8 f32\n"),
            (os.path.join(self.build, "fnuz", "plans.txt"), "kernel hp_kv_write_fnuz 1 1 1 64 1 1 0\n"),
        ]
        for path, text in edits:
            write(path, text)
            d = self.digest()
            self.assertNotIn(d, seen, path)
            seen.add(d)
        self.assertNotIn(self.digest(san=()), seen)
        self.assertNotIn(self.digest(only="mla"), seen)

    def test_a_file_moved_between_names_changes_the_digest(self):
        # The same bytes under another name are another input (names are hashed with contents).
        before = self.digest()
        os.rename(os.path.join(self.root, "kernels", "gemv.cu"), os.path.join(self.root, "kernels", "gemw.cu"))
        self.assertNotEqual(before, self.digest())


class Record(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()

    def tearDown(self):
        self.tmp.cleanup()

    def test_round_trip(self):
        path = os.path.join(self.tmp.name, "cache", "mutate-passed")
        self.assertEqual(mutate.read_record(path), "")
        mutate.write_record(path, "ab" * 32)
        self.assertEqual(mutate.read_record(path), "ab" * 32)
        mutate.write_record(path, "cd" * 32)
        self.assertEqual(mutate.read_record(path), "cd" * 32)
        self.assertEqual(os.listdir(os.path.dirname(path)), ["mutate-passed"])

    def test_a_link_is_not_followed(self):
        target = os.path.join(self.tmp.name, "elsewhere")
        write(target, "ab" * 32 + "\n")
        link = os.path.join(self.tmp.name, "mutate-passed")
        os.symlink(target, link)
        self.assertEqual(mutate.read_record(link), "")
        # Writing replaces the link itself; the file it pointed to is untouched.
        mutate.write_record(link, "cd" * 32)
        self.assertFalse(os.path.islink(link))
        self.assertEqual(mutate.read_record(link), "cd" * 32)
        with open(target) as f:
            self.assertEqual(f.read(), "ab" * 32 + "\n")

    def test_only_a_regular_file_is_read(self):
        # A directory or a FIFO at the record's path is no record (and a FIFO does not block).
        path = os.path.join(self.tmp.name, "mutate-passed")
        os.mkdir(path)
        self.assertEqual(mutate.read_record(path), "")
        os.rmdir(path)
        os.mkfifo(path)
        self.assertEqual(mutate.read_record(path), "")

    def test_an_empty_record_matches_nothing(self):
        path = os.path.join(self.tmp.name, "mutate-passed")
        write(path, "")
        self.assertEqual(mutate.read_record(path), "")


class CommandLine(unittest.TestCase):
    def test_defaults(self):
        self.assertEqual(mutate.parse_args([]), (["--no-sanitize"], 2, ""))

    def test_every_option(self):
        self.assertEqual(mutate.parse_args(["--sanitize", "-j", "4", "mla"]), ([], 4, "mla"))
        self.assertEqual(mutate.parse_args(["gemv", "-j", "1"]), (["--no-sanitize"], 1, "gemv"))

    def test_bad_input_is_one_sentence_naming_it(self):
        cases = [
            (["-j"], "nothing"),
            (["-j", "two"], "'two'"),
            (["-j", "0"], "'0'"),
            (["-j", "-3"], "'-3'"),
            (["--sanitise"], "'--sanitise'"),
            (["gemv", "mla"], "'mla'"),
        ]
        for args, named in cases:
            with self.assertRaises(mutate.UsageError, msg=args) as e:
                mutate.parse_args(args)
            message = str(e.exception)
            self.assertIn(named, message, args)
            self.assertNotIn("\n", message, args)


if __name__ == "__main__":
    unittest.main()
