package dev.vecnorm.layers;

import java.util.Arrays;
import java.util.Objects;

/** A float32 tensor: a shape and its row-major data (the data array is shared, not copied). */
public final class Tensor {
  private final int[] shape;
  private final float[] data;

  /**
   * A tensor over existing data.
   *
   * @param shape the dimensions, each at least 0 (copied)
   * @param data row-major values, exactly the shape's element count (shared, not copied)
   */
  public Tensor(int[] shape, float[] data) {
    Objects.requireNonNull(data, "data");
    long size = size(shape);
    if (size != data.length) {
      throw new IllegalArgumentException("data must have " + size + " elements for shape " + Arrays.toString(shape) + ", got " + data.length);
    }
    this.shape = shape.clone();
    this.data = data;
  }

  /**
   * A tensor of zeros.
   *
   * @param shape the dimensions, each at least 0
   * @return a new tensor
   */
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

  /**
   * The dimensions.
   *
   * @return a copy of the shape
   */
  public int[] shape() {
    return shape.clone();
  }

  /**
   * One dimension.
   *
   * @param axis the axis, negative counts from the end
   * @return the size of that axis
   */
  public int dim(int axis) {
    return shape[axis < 0 ? axis + shape.length : axis];
  }

  /**
   * Number of dimensions.
   *
   * @return the rank
   */
  public int rank() {
    return shape.length;
  }

  /**
   * The row-major values.
   *
   * @return the data array (shared, not a copy)
   */
  public float[] data() {
    return data;
  }

  /**
   * Number of elements.
   *
   * @return the product of the dimensions
   */
  public int size() {
    return data.length;
  }

  /**
   * Same data, another shape of the same size.
   *
   * @param newShape the new shape, with the same element count
   * @return a tensor sharing this one's data
   */
  public Tensor reshape(int... newShape) {
    return new Tensor(newShape, data);
  }

  /**
   * A deep copy.
   *
   * @return a tensor of the same shape with a copy of the data
   */
  public Tensor copy() {
    return new Tensor(shape, data.clone());
  }

  @Override
  public String toString() {
    return "Tensor" + Arrays.toString(shape);
  }
}
