"""A .npy header read by numpy's own reader, so that an object dtype is found however it is spelled.

np.load unpickles the data of an array whose dtype holds objects (`O`, `|O`, `object`, `('f', 'O')`, a
structured or subarray dtype with an object field at any depth, ...). Spotting those spellings in the
header's text is a guess; numpy's parser is the definition: the header is a Python literal read by
numpy.lib.format (ast.literal_eval, no code), its `descr` turned into a dtype by numpy, and `hasobject`
says whether a pickle follows. numpy comes with h5py, a runtime dependency.
"""
try:  # np.load's own steps: numpy 2 keeps them here (numpy.lib.format re-exports the public ones)
    from numpy.lib import _format_impl as npformat
except ImportError:  # numpy 1.x
    from numpy.lib import format as npformat  # type: ignore[no-redef]

MAX_HEADER_BYTES = 1024 * 1024  # numpy's own default limit is 10 000; a larger one is read here, then refused


def has_object(source) -> bool:
    """Read the magic and header from `source` (left at the first data byte); True when a pickle follows.
    ValueError (numpy's) when the header is not one numpy would accept."""
    version = npformat.read_magic(source)
    npformat._check_version(version)
    _shape, _fortran, dtype = npformat._read_array_header(source, version, max_header_size=MAX_HEADER_BYTES)
    return bool(dtype.hasobject)
