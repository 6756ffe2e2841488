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

  public static FitOptions defaults() {
    return new FitOptions();
  }

  public FitOptions batchSize(int batchSize) {
    if (batchSize < 1) throw new IllegalArgumentException("batchSize must be >= 1, got " + batchSize);
    this.batchSize = batchSize;
    return this;
  }

  public FitOptions epochs(int epochs) {
    if (epochs < 1) throw new IllegalArgumentException("epochs must be >= 1, got " + epochs);
    this.epochs = epochs;
    return this;
  }

  public FitOptions validationSplit(double split) {
    if (!(split >= 0 && split < 1)) throw new IllegalArgumentException("validationSplit must be in [0, 1), got " + split);
    this.validationSplit = split;
    return this;
  }

  public FitOptions validationData(Tensor x, Tensor y) {
    this.validationData = new Tensor[] {java.util.Objects.requireNonNull(x, "validationData x"), java.util.Objects.requireNonNull(y, "validationData y")};
    return this;
  }

  public FitOptions shuffle(boolean shuffle) {
    this.shuffle = shuffle;
    return this;
  }

  public FitOptions seed(long seed) {
    this.seed = seed;
    return this;
  }

  /** 0 silent, 1 a progress bar per epoch, 2 one line per epoch. */
  public FitOptions verbose(int verbose) {
    if (verbose < 0 || verbose > 2) throw new IllegalArgumentException("verbose must be 0, 1 or 2, got " + verbose);
    this.verbose = verbose;
    return this;
  }

  public FitOptions output(PrintStream out) {
    this.out = java.util.Objects.requireNonNull(out, "out");
    return this;
  }

  public FitOptions callback(Callback c) {
    callbacks.add(java.util.Objects.requireNonNull(c, "callback"));
    return this;
  }
}
