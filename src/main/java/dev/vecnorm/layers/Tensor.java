package dev.vecnorm.layers;

import java.util.Arrays;
import java.util.Objects;

/** A float32 tensor: a shape and its row-major data (the data array is shared, not copied). */
public final class Tensor {
  private final int[] shape;
  private final float[] data;

  public Tensor(int[] shape, float[] data) {
    Objects.requireNonNull(shape, "shape");
    Objects.requireNonNull(data, "data");
    long size = 1;
    for (int i = 0; i < shape.length; i++) {
      if (shape[i] < 0) throw new IllegalArgumentException("shape[" + i + "] must be >= 0, got " + shape[i]);
      size *= shape[i];
    }
    if (size != data.length) {
      throw new IllegalArgumentException("data must have " + size + " elements for shape " + Arrays.toString(shape) + ", got " + data.length);
    }
    this.shape = shape.clone();
    this.data = data;
  }

  public static Tensor zeros(int... shape) {
    long size = 1;
    for (int d : shape) size *= d;
    return new Tensor(shape, new float[Math.toIntExact(size)]);
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
