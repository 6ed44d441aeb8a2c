"""report.py's reading of results files: python3 -m unittest discover -s bench/peers"""
import dataclasses
import os
import subprocess
import sys
import tempfile
import unittest

import report

HEADER = "\t".join(report.COLUMNS)


class ReadRowsTests(unittest.TestCase):
    def write(self, *lines):
        f = tempfile.NamedTemporaryFile("w", suffix=".tsv", delete=False)
        f.write("\n".join(lines) + "\n")
        f.close()
        self.addCleanup(os.unlink, f.name)
        return f.name

    def test_rows_have_typed_named_fields(self):
        path = self.write(HEADER, "throughput\t1024\tqemu\tcorrect_after_half_writes\t2\t0\tbool\tmd5sum differs")
        self.assertEqual([report.Row("throughput", 1024, "qemu", "correct_after_half_writes", 2, 0.0, "bool", "md5sum differs")],
                         report.read_rows(path))

    def test_columns_are_found_by_name_not_position(self):
        path = self.write("note\tunit\tvalue\trun\tmetric\tpeer\tdevice_mib\texperiment", "\tms\t0.5\t1\ttake_hold_ms\tblksnapfs\t256\tengine")
        self.assertEqual(0.5, report.read_rows(path)[0].value)

    def test_a_missing_column_is_named(self):
        path = self.write(HEADER.replace("\tunit", ""), "engine\t256\tblksnapfs\ttake_hold_ms\t1\t0.5\t")
        with self.assertRaisesRegex(report.SchemaError, r"missing column\(s\) unit "):
            report.read_rows(path)

    def test_a_file_of_the_old_six_columns_is_refused(self):
        path = self.write("1024\tall\trand_io_mib\t0\t64\tMiB")
        with self.assertRaisesRegex(report.SchemaError, "missing column"):
            report.read_rows(path)

    def test_a_short_line_names_its_number(self):
        path = self.write(HEADER, "engine\t256\tblksnapfs\ttake_hold_ms\t1\t0.5\tms\t", "engine\t256\tblksnapfs")
        with self.assertRaisesRegex(report.SchemaError, r":3: 3 fields, the header has 8"):
            report.read_rows(path)

    def test_a_value_that_is_not_a_number_names_its_line(self):
        path = self.write(HEADER, "throughput\t1024\tqemu\tcorrect_after_seq_writes\t1\tok\tbool\t")
        with self.assertRaisesRegex(report.SchemaError, r":2: .*'ok'"):
            report.read_rows(path)

    def test_the_report_stops_with_one_line_on_a_missing_column(self):
        path = self.write(HEADER.replace("run\t", ""), "engine\t256\tblksnapfs\ttake_hold_ms\t0.5\tms\t")
        out = tempfile.mkdtemp()
        done = subprocess.run([sys.executable, report.__file__, "--tsv", path, "--results", f"{out}/r.md", "--chart", f"{out}/r.png"],
                              capture_output=True, text=True)
        self.assertEqual(1, done.returncode)
        self.assertEqual([f"report.py: {path}: missing column(s) run (its header: {HEADER.replace('run' + chr(9), '').replace(chr(9), ' ')})"],
                         done.stderr.splitlines())


class ResultsTests(unittest.TestCase):
    def test_a_figure_repeated_by_an_earlier_set_counts_once_per_run(self):
        row = report.Row("engine", 256, "blksnapfs", "take_hold_ms", 1, 0.5, "ms", "")
        results = report.Results([row, row, dataclasses.replace(row, run=2, value=0.7)])
        self.assertEqual([0.5, 0.7], results.anywhere("engine", "blksnapfs", "take_hold_ms"))

    def test_mismatches_keep_their_note(self):
        results = report.Results([report.Row("throughput", 1024, "qemu", "correct_after_half_writes", 1, 0, "bool", "differs"),
                                  report.Row("throughput", 1024, "raw", "correct_after_half_writes", 1, 1, "bool", "")])
        self.assertEqual(["differs"], [r.note for r in results.mismatches()])

    def test_a_first_touch_target_names_the_rewrite_of_the_same_blocks_as_its_ceiling(self):
        rows = [report.Row("throughput", 1024, peer, metric, 1, value, "MiB/s", "")
                for peer, metric, value in (("blksnapfs", "write_seq_first", 300), ("blksnapfs", "write_seq_rewrite", 1200),
                                            ("raw", "write_seq_first", 2000), ("raw", "write_seq_rewrite", 2400))]
        seq, = report.throughput_targets(report.Results(rows), [("write_seq_first", "raw", 0.45)])
        self.assertEqual("BlkSnapFs's rewrite ÷ peer = 0.60×", seq.note)
        rewrite, = report.throughput_targets(report.Results(rows), [("write_seq_rewrite", "raw", 0.45)])
        self.assertEqual("", rewrite.note)

    def test_a_program_measured_alone_gets_its_report_and_no_chart(self):
        for peer in ("blksnapfs", "raw"):
            out = tempfile.mkdtemp()
            path = os.path.join(out, "r.tsv")
            with open(path, "w") as f:
                f.write(HEADER + "\n" + f"throughput\t1024\t{peer}\twrite_seq_first\t1\t63.7\tMiB/s\t\n")
            done = subprocess.run([sys.executable, report.__file__, "--tsv", path, "--results", f"{out}/r.md", "--chart", f"{out}/r.png"],
                                  capture_output=True, text=True)
            self.assertEqual(0, done.returncode, done.stderr)
            with open(f"{out}/r.md") as written:
                self.assertIn("63.7", written.read())
            self.assertFalse(os.path.exists(f"{out}/r.png"))
            self.assertEqual([f"report.py: no ratio of BlkSnapFs to a peer, so no chart ({out}/r.png not written)"], done.stderr.splitlines())


if __name__ == "__main__":
    unittest.main()
