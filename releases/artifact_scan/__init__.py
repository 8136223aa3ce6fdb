"""Scan a model's files for code that runs when they are loaded (pickles, joblib, PyTorch, Keras).

    from releases.artifact_scan import scan_directory, scan_files, summarize, Limits
    report = scan_directory(downloaded_model_dir, limits=Limits(max_file_bytes=..., max_total_bytes=...))
    summarize(report)["verdict"]   # dangerous | unreadable | unknown | expected | clean

The release pipeline's fetch step scans every model file with it (releases/model_files.py); the policy
decides on the results (releases/scanning/model_policy.py).
"""
from .formats import Limits
from .report import FileReport, Finding, ScanReport, summarize
from .scan import flavors_of, scan_directory, scan_files

__all__ = ["Limits", "FileReport", "Finding", "ScanReport", "summarize", "flavors_of", "scan_directory",
           "scan_files"]
