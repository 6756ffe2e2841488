package dev.vecnorm.layers;

import java.util.Arrays;
import java.util.List;
import java.util.Objects;

/** Keras's {@code Input(shape=(256,))}: the symbolic input of a functional {@link dev.vecnorm.model.Model}. */
public final class Input {
  private Input() {}

  /**
   * A symbolic input whose samples have this shape (the batch dimension is left open, as Keras's None).
   *
   * @param dims the sample shape, at least one dimension, each at least 1
   * @return the symbolic input
   */
  public static SymbolicTensor shape(int... dims) {
    Objects.requireNonNull(dims, "dims");
    if (dims.length == 0) throw new IllegalArgumentException("Input.shape needs at least one dimension");
    int[] s = new int[dims.length + 1];
    s[0] = 1;
    for (int i = 0; i < dims.length; i++) {
      if (dims[i] < 1) throw new IllegalArgumentException("Input.shape dims must be >= 1, got " + Arrays.toString(dims));
      s[i + 1] = dims[i];
    }
    return new SymbolicTensor(null, List.of(), s);
  }
}
