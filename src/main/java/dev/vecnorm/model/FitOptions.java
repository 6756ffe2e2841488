package dev.vecnorm.model;

import dev.vecnorm.layers.Tensor;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;

/**
 * Arguments of {@link Sequential#fit}, with Keras's defaults: {@code batchSize=32, epochs=1,
 * validationSplit=0, shuffle=true, verbose=1}; {@code seed} makes shuffling reproducible.
 */
public final class FitOptions {
  int batchSize = 32;
  int epochs = 1;
  double validationSplit;
  Tensor[] validationData;
  boolean shuffle = true;
  long seed = 0;
  int verbose = 1;
  PrintStream out = System.out;
  final List<Callback> callbacks = new ArrayList<>();

  /** Options with Keras's defaults, as {@link #defaults()}. */
  public FitOptions() {}

  /**
   * Keras's defaults.
   *
   * @return new options with every default
   */
  public static FitOptions defaults() {
    return new FitOptions();
  }

  /**
   * Samples per optimizer step (the last batch of an epoch may be smaller).
   *
   * @param batchSize at least 1; default 32
   * @return this
   */
  public FitOptions batchSize(int batchSize) {
    if (batchSize < 1) throw new IllegalArgumentException("batchSize must be >= 1, got " + batchSize);
    this.batchSize = batchSize;
    return this;
  }

  /**
   * Passes over the training data.
   *
   * @param epochs at least 1; default 1
   * @return this
   */
  public FitOptions epochs(int epochs) {
    if (epochs < 1) throw new IllegalArgumentException("epochs must be >= 1, got " + epochs);
    this.epochs = epochs;
    return this;
  }

  /**
   * Fraction of the training samples, taken from the end before shuffling as Keras does, held out for validation.
   *
   * @param split in [0, 1); default 0 (no validation)
   * @return this
   */
  public FitOptions validationSplit(double split) {
    if (!(split >= 0 && split < 1)) throw new IllegalArgumentException("validationSplit must be in [0, 1), got " + split);
    this.validationSplit = split;
    return this;
  }

  /**
   * Data to evaluate after each epoch (logged as {@code val_*}); takes precedence over {@link #validationSplit}.
   *
   * @param x validation inputs, shaped as the training inputs; not null
   * @param y validation targets, one row per sample; not null
   * @return this
   */
  public FitOptions validationData(Tensor x, Tensor y) {
    this.validationData = new Tensor[] {java.util.Objects.requireNonNull(x, "validationData x"), java.util.Objects.requireNonNull(y, "validationData y")};
    return this;
  }

  /**
   * Whether the training samples are shuffled before each epoch.
   *
   * @param shuffle default true
   * @return this
   */
  public FitOptions shuffle(boolean shuffle) {
    this.shuffle = shuffle;
    return this;
  }

  /**
   * Seed of the shuffling, so runs are reproducible.
   *
   * @param seed any value; default 0
   * @return this
   */
  public FitOptions seed(long seed) {
    this.seed = seed;
    return this;
  }

  /**
   * 0 silent, 1 a progress bar per epoch, 2 one line per epoch.
   *
   * @param verbose 0, 1 or 2
   * @return this
   */
  public FitOptions verbose(int verbose) {
    if (verbose < 0 || verbose > 2) throw new IllegalArgumentException("verbose must be 0, 1 or 2, got " + verbose);
    this.verbose = verbose;
    return this;
  }

  /**
   * Where progress is printed.
   *
   * @param out the stream; not null; default {@code System.out}
   * @return this
   */
  public FitOptions output(PrintStream out) {
    this.out = java.util.Objects.requireNonNull(out, "out");
    return this;
  }

  /**
   * Adds a callback; callbacks run in the order added.
   *
   * @param c the callback; not null
   * @return this
   */
  public FitOptions callback(Callback c) {
    callbacks.add(java.util.Objects.requireNonNull(c, "callback"));
    return this;
  }
}
