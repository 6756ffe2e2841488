package dev.vecnorm.layers;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Keras's {@code Concatenate()} on the last axis (Keras's default {@code axis=-1}): inputs equal in
 * every other dimension; the gradient is cut back into the inputs' widths.
 */
public final class Concatenate extends Merge {
  private static int counter;

  /** A {@code Concatenate} layer with a generated name. */
  public Concatenate() {
    this("concatenate" + (counter++ == 0 ? "" : "_" + (counter - 1)));
  }

  /**
   * A {@code Concatenate} layer.
   *
   * @param name the layer name; not null
   */
  public Concatenate(String name) {
    super(name);
  }

  @Override
  public int[] computeOutputShape(List<int[]> shapes) {
    int[] first = shapes.get(0);
    long width = 0;
    for (int[] s : shapes) {
      int[] a = s.clone(), b = first.clone();
      if (a.length != b.length || a.length < 2) {
        throw new IllegalArgumentException(name() + ": Concatenate needs inputs of one rank >= 2, got " + shapes.stream().map(Arrays::toString).toList());
      }
      a[a.length - 1] = 0;
      b[b.length - 1] = 0;
      if (!Arrays.equals(a, b)) {
        throw new IllegalArgumentException(name() + ": Concatenate (axis -1) needs inputs equal in all but the last dimension, got "
            + shapes.stream().map(Arrays::toString).toList());
      }
      width += s[s.length - 1];
    }
    if (width > Integer.MAX_VALUE) throw new IllegalArgumentException(name() + ": concatenated width " + width + " is larger than an int");
    int[] out = first.clone();
    out[out.length - 1] = (int) width;
    return out;
  }

  @Override
  protected Tensor merge(List<Tensor> inputs) {
    List<int[]> shapes = new ArrayList<>();
    for (Tensor t : inputs) shapes.add(t.shape());
    int[] outShape = computeOutputShape(shapes);
    int width = outShape[outShape.length - 1], rows = inputs.get(0).size() / Math.max(1, inputs.get(0).dim(-1));
    float[] y = new float[Math.toIntExact((long) rows * width)];
    int at = 0;
    for (Tensor t : inputs) {
      int w = t.dim(-1);
      for (int r = 0; r < rows; r++) System.arraycopy(t.data(), r * w, y, r * width + at, w);
      at += w;
    }
    return new Tensor(outShape, y);
  }

  @Override
  protected List<Tensor> split(Tensor g, List<int[]> shapes) {
    int width = g.dim(-1), rows = g.size() / Math.max(1, width), at = 0;
    List<Tensor> out = new ArrayList<>();
    for (int[] s : shapes) {
      int w = s[s.length - 1];
      float[] d = new float[rows * w];
      for (int r = 0; r < rows; r++) System.arraycopy(g.data(), r * width + at, d, r * w, w);
      out.add(new Tensor(s, d));
      at += w;
    }
    return out;
  }

  @Override
  public Map<String, Object> getConfig() {
    Map<String, Object> m = new LinkedHashMap<>(super.getConfig());
    m.put("axis", -1.0);
    return m;
  }

  /**
   * Keras's config; only {@code axis} -1 (the last axis) is supported.
   *
   * @param c the layer's Keras config
   * @return the layer
   */
  public static Concatenate fromConfig(Map<String, ?> c) {
    Configs.checkKeys(c, "Concatenate", Configs.keys(Configs.BASE_KEYS, "axis"));
    if (Configs.integer(c, "axis", -1, -1, -1) != -1) throw new IllegalArgumentException("Concatenate: only axis -1 is supported, got " + c.get("axis"));
    return Configs.layer(c, Concatenate::new, Concatenate::new);
  }
}
