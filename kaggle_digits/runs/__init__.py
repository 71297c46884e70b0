"""The run folder: every file name and record (rundir), its lock (runlock), a finished run read back (runload),
the submissions/reference/ manifest (reference)."""
