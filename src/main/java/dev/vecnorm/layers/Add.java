package dev.vecnorm.layers;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/** Keras's {@code Add()}: the element-wise sum of inputs of one shape; each input's gradient is the output's. */
public final class Add extends Merge {
  private static int counter;

  /** An {@code Add} layer with a generated name ({@code add}, {@code add_1}, ...). */
  public Add() {
    this("add" + (counter++ == 0 ? "" : "_" + (counter - 1)));
  }

  /**
   * An {@code Add} layer.
   *
   * @param name the layer name; not null
   */
  public Add(String name) {
    super(name);
  }

  @Override
  public int[] computeOutputShape(List<int[]> shapes) {
    for (int[] s : shapes) {
      if (!Arrays.equals(s, shapes.get(0))) {
        throw new IllegalArgumentException(name() + ": Add needs inputs of one shape, got " + shapes.stream().map(Arrays::toString).toList());
      }
    }
    return shapes.get(0).clone();
  }

  @Override
  protected Tensor merge(List<Tensor> inputs) {
    float[] y = inputs.get(0).data().clone();
    for (int k = 1; k < inputs.size(); k++) {
      float[] x = inputs.get(k).data();
      for (int i = 0; i < y.length; i++) y[i] += x[i];
    }
    return new Tensor(inputs.get(0).shape(), y);
  }

  @Override
  protected List<Tensor> split(Tensor g, List<int[]> shapes) {
    List<Tensor> out = new ArrayList<>();
    for (int k = 0; k < shapes.size(); k++) out.add(k == 0 ? g : g.copy());
    return out;
  }

  /**
   * Keras's config: only the base keys.
   *
   * @param c the layer's Keras config
   * @return the layer
   */
  public static Add fromConfig(Map<String, ?> c) {
    Configs.checkKeys(c, "Add", Configs.BASE_KEYS);
    return Configs.layer(c, Add::new, Add::new);
  }
}
