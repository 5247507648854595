import ArgumentParser
import PageTableImages

/// `--progress`, for the subcommands that walk whole inputs (`dump`, `diff`).
struct ProgressOption: ParsableArguments {
  @Flag(
    help:
      "Report the walk's progress on standard error, one line per 256 tables, even when it is not a terminal (a terminal always shows it, in place)."
  )
  var progress = false

  /// The reporter these options ask for.
  var reporter: ProgressReporter {
    ProgressReporter(style: ProgressReporter.style(requested: progress))
  }
}
