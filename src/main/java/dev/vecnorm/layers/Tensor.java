package dev.vecnorm.layers;

import java.util.Arrays;
import java.util.Objects;

/** A float32 tensor: a shape and its row-major data (the data array is shared, not copied). */
public final class Tensor {
  private final int[] shape;
  private final float[] data;

  public Tensor(int[] shape, float[] data) {
    Objects.requireNonNull(data, "data");
    long size = size(shape);
    if (size != data.length) {
      throw new IllegalArgumentException("data must have " + size + " elements for shape " + Arrays.toString(shape) + ", got " + data.length);
    }
    this.shape = shape.clone();
    this.data = data;
  }

  public static Tensor zeros(int... shape) {
    long size = size(shape);
    if (size > Integer.MAX_VALUE - 8) {
      throw new IllegalArgumentException("shape " + Arrays.toString(shape) + " has " + size + " elements, more than a Java array holds");
    }
    return new Tensor(shape, new float[(int) size]);
  }

  /** The element count, checked: dimensions >= 0 and no long overflow (a product past 2^31 fits no array anyway). */
  private static long size(int[] shape) {
    Objects.requireNonNull(shape, "shape");
    long size = 1;
    for (int i = 0; i < shape.length; i++) {
      if (shape[i] < 0) throw new IllegalArgumentException("shape[" + i + "] must be >= 0, got " + Arrays.toString(shape));
      size *= shape[i];
      if (size > Integer.MAX_VALUE) size = Integer.MAX_VALUE + 1L; // saturate: stays "too large" without overflowing
    }
    return size;
  }

  public int[] shape() {
    return shape.clone();
  }

  public int dim(int axis) {
    return shape[axis < 0 ? axis + shape.length : axis];
  }

  public int rank() {
    return shape.length;
  }

  public float[] data() {
    return data;
  }

  public int size() {
    return data.length;
  }

  /** Same data, another shape of the same size. */
  public Tensor reshape(int... newShape) {
    return new Tensor(newShape, data);
  }

  public Tensor copy() {
    return new Tensor(shape, data.clone());
  }

  @Override
  public String toString() {
    return "Tensor" + Arrays.toString(shape);
  }
}
