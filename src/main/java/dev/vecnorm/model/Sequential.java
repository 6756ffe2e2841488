package dev.vecnorm.model;

import dev.vecnorm.layers.BatchNormalization;
import dev.vecnorm.layers.Dense;
import dev.vecnorm.layers.Initializer;
import dev.vecnorm.layers.Layer;
import dev.vecnorm.layers.Tensor;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Objects;

/**
 * Keras's {@code Sequential}: the {@link Model} whose graph is a stack of layers, with {@code compile},
 * {@code fit}, {@code evaluate} and {@code predict} (inherited from Model). Training is deterministic given
 * the seeds of the layers and of {@link FitOptions}.
 *
 * <p>Bad arguments throw {@code IllegalArgumentException} naming the argument and what was expected,
 * before any layer runs: x's shape is walked through every layer, targets are checked against the
 * loss (class indices in range for sparse categorical cross-entropy, one finite target per output for
 * mean squared error), validation data against x. So a rejected {@code fit}, {@code trainOnBatch},
 * {@code evaluate}, {@code predict} or {@code setWeights} leaves every weight and moving statistic as
 * it was. Not thread-safe: layers keep the last call for backward, so use one model from one thread at
 * a time (or one copy per thread).
 */
public final class Sequential extends Model {
  private final List<Layer> layers = new ArrayList<>();

  /**
   * A model of these layers in order.
   *
   * @param layers the layers, none null; may be empty and grown with {@link #add}
   */
  public Sequential(Layer... layers) {
    for (Layer l : layers) add(l);
  }

  /**
   * Appends a layer.
   *
   * @param layer the layer; not null
   * @return this
   */
  public Sequential add(Layer layer) {
    layers.add(Objects.requireNonNull(layer, "layer"));
    return this;
  }

  @Override
  public List<Layer> layers() {
    return List.copyOf(layers);
  }

  /**
   * Builds every layer for inputs of this shape (batch dimension first, any size). The whole stack is
   * checked first, so a shape some layer rejects leaves every layer as it was.
   */
  @Override
  public void build(int... inputShape) {
    Objects.requireNonNull(inputShape, "inputShape");
    int[] shape = inputShape.clone();
    checkShapes(shape, "inputShape");
    if (shape.length > 0 && shape[0] == 0) shape[0] = 1; // as checked: the batch size does not shape any weight
    for (Layer l : layers) {
      l.build(shape);
      shape = l.computeOutputShape(shape);
    }
    this.inputShape = inputShape.clone();
  }

  /**
   * Walks the shape through every layer without allocating or changing anything; returns the output
   * shape. Throws {@code IllegalArgumentException} naming {@code what} and the first layer that rejects it.
   */
  @Override
  int[] checkShapes(int[] shape, String what) {
    int[] s = shape.clone();
    if (s.length > 0 && s[0] == 0) s[0] = 1; // an empty batch fits wherever one sample does
    for (Layer l : layers) {
      try {
        l.checkInputShape(s);
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException(what + " " + Arrays.toString(shape) + " does not fit the model: " + e.getMessage(), e);
      }
      s = l.computeOutputShape(s);
    }
    if (s.length > 0 && shape.length > 0) s[0] = shape[0];
    return s;
  }

  @Override
  Tensor run(Tensor x, boolean training) {
    if (inputShape == null) build(x.shape());
    Tensor t = x;
    for (Layer l : layers) {
      long t0 = l instanceof BatchNormalization ? System.nanoTime() : 0;
      t = l.call(t, training);
      if (l instanceof BatchNormalization) batchNormNanos += System.nanoTime() - t0;
    }
    return t;
  }

  @Override
  void backward(Tensor grad) {
    for (int i = layers.size() - 1; i >= 0; i--) {
      Layer l = layers.get(i);
      long t0 = l instanceof BatchNormalization ? System.nanoTime() : 0;
      grad = l.backward(grad);
      if (l instanceof BatchNormalization) batchNormNanos += System.nanoTime() - t0;
    }
  }

  /**
   * An inference copy in which every linear {@code Dense} directly followed by a {@code BatchNormalization}
   * over its units (axis -1) becomes one {@code Dense} (with the BN's fused ReLU, if any, as its activation): with {@code alpha = gamma / sqrt(movingVariance + eps)},
   * {@code W'[i][j] = W[i][j] * alpha[j]} and {@code b'[j] = (b[j] - movingMean[j]) * alpha[j] + beta[j]}.
   * The copy's predictions equal this model's in inference mode up to float rounding; this model is untouched.
   *
   * @return a new, built model; this one is unchanged
   */
  public Sequential foldBatchNormForInference() {
    if (inputShape == null) throw new IllegalStateException("build or fit the model before folding it");
    Sequential folded = new Sequential();
    List<List<float[]>> weights = new ArrayList<>();
    for (int i = 0; i < layers.size(); i++) {
      Layer layer = layers.get(i);
      // Only a linear Dense folds (BN must see x W + b itself); a BN's fused ReLU moves onto the folded Dense.
      if (layer instanceof Dense dense && dense.activation().equals("linear") && i + 1 < layers.size()
          && layers.get(i + 1) instanceof BatchNormalization bn && (bn.axis() == -1 || bn.axis() == 1)) {
        folded.add(Dense.builder(dense.units()).activation(bn.activation()).kernelInitializer(Initializer.zeros())
            .name(dense.name() + "_folded").build());
        weights.add(foldedWeights(dense, bn));
        i++;
      } else {
        folded.add(ModelIO.layerFromConfig(layer.className(), new LinkedHashMap<>(layer.getConfig())));
        weights.add(layer.getWeights());
      }
    }
    folded.build(inputShape);
    folded.setWeights(weights);
    folded.optimizer = optimizer;
    folded.loss = loss;
    folded.metrics = metrics;
    return folded;
  }

  private static List<float[]> foldedWeights(Dense dense, BatchNormalization bn) {
    List<float[]> w = dense.getWeights();
    float[] kernel = w.get(0);
    int units = dense.units(), in = kernel.length / units;
    float[] bias = w.size() > 1 ? w.get(1) : new float[units];
    float[] gamma = bn.gamma(), beta = bn.beta(), mean = bn.movingMean(), var = bn.movingVariance();
    for (int j = 0; j < units; j++) {
      double alpha = (gamma == null ? 1 : gamma[j]) / Math.sqrt((double) var[j] + bn.epsilon());
      for (int i = 0; i < in; i++) kernel[i * units + j] = (float) (kernel[i * units + j] * alpha);
      bias[j] = (float) ((bias[j] - (double) mean[j]) * alpha + (beta == null ? 0 : beta[j]));
    }
    return List.of(kernel, bias);
  }

}
