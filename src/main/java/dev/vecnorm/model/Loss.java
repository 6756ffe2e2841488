package dev.vecnorm.model;

import dev.vecnorm.layers.Tensor;

/** A loss over a batch: its mean value and the gradient with respect to the predictions. */
public sealed interface Loss {

  /**
   * Mean loss of the batch; writes d(mean loss)/d(prediction) into {@code grad}. Targets that do not
   * fit the predictions (count, class index range) and a {@code grad} of another length throw
   * {@code IllegalArgumentException} before {@code grad} is written.
   *
   * @param predictions the model's output, {@code [batch, outputs]}
   * @param targets class indices ({@code [batch]}) for cross-entropy, or one value per prediction for mean squared error
   * @param grad output: receives d(mean loss)/d(prediction), {@code predictions.size()} floats
   * @return the mean loss over the batch
   */
  double compute(Tensor predictions, Tensor targets, float[] grad);

  private static void checkSizes(Tensor predictions, Tensor targets, float[] grad, long targetCount) {
    java.util.Objects.requireNonNull(predictions, "predictions");
    java.util.Objects.requireNonNull(targets, "targets");
    java.util.Objects.requireNonNull(grad, "grad");
    if (predictions.rank() < 1 || predictions.dim(0) == 0) throw new IllegalArgumentException("predictions must have >= 1 rows, got " + predictions);
    if (targets.size() != targetCount) {
      throw new IllegalArgumentException("targets must have " + targetCount + " elements for predictions " + predictions + ", got " + targets);
    }
    if (grad.length != predictions.size()) {
      throw new IllegalArgumentException("grad must have " + predictions.size() + " elements, got " + grad.length);
    }
  }

  /**
   * The Keras name of this loss.
   *
   * @return for example {@code "sparse_categorical_crossentropy"}
   */
  String name();

  /**
   * Keras's {@code SparseCategoricalCrossentropy(from_logits)}: targets are class indices.
   *
   * @param fromLogits true when predictions are logits (softmax is applied here), false when they are probabilities
   * @return the loss
   */
  static Loss sparseCategoricalCrossentropy(boolean fromLogits) {
    return new SparseCategoricalCrossentropy(fromLogits);
  }

  /**
   * Keras's {@code MeanSquaredError}.
   *
   * @return the loss
   */
  static Loss meanSquaredError() {
    return new MeanSquaredError();
  }

  /**
   * Cross-entropy of softmax outputs against class indices, as Keras's {@code SparseCategoricalCrossentropy}.
   *
   * @param fromLogits true when predictions are logits, false when they are probabilities
   */
  record SparseCategoricalCrossentropy(boolean fromLogits) implements Loss {
    /** Keras clips probabilities to [eps, 1 - eps] with its backend epsilon. */
    static final double EPS = 1e-7;

    @Override
    public double compute(Tensor predictions, Tensor targets, float[] grad) {
      Loss.checkSizes(predictions, targets, grad, predictions.rank() < 1 ? 1 : predictions.dim(0));
      int n = predictions.dim(0), k = predictions.size() / n;
      float[] p = predictions.data(), t = targets.data();
      for (int i = 0; i < n; i++) {
        if (t[i] != Math.rint(t[i]) || t[i] < 0 || t[i] >= k) {
          throw new IllegalArgumentException("targets[" + i + "] = " + t[i] + " is not a class index in [0, " + k + ")");
        }
      }
      double total = 0;
      float[] row = new float[k];
      for (int i = 0; i < n; i++) {
        int label = (int) t[i];
        if (fromLogits) {
          float max = Float.NEGATIVE_INFINITY;
          for (int j = 0; j < k; j++) max = Math.max(max, p[i * k + j]);
          double sum = 0;
          for (int j = 0; j < k; j++) sum += (row[j] = (float) Math.exp(p[i * k + j] - max));
          total += -(p[i * k + label] - max - Math.log(sum));
          for (int j = 0; j < k; j++) grad[i * k + j] = (float) ((row[j] / sum - (j == label ? 1 : 0)) / n);
        } else {
          double q = Math.min(1 - EPS, Math.max(EPS, p[i * k + label]));
          total += -Math.log(q);
          for (int j = 0; j < k; j++) grad[i * k + j] = 0;
          grad[i * k + label] = (float) (-1 / q / n);
        }
      }
      return total / n;
    }

    @Override
    public String name() {
      return "sparse_categorical_crossentropy";
    }
  }

  /** Mean of the squared differences between predictions and targets, as Keras's {@code MeanSquaredError}. */
  record MeanSquaredError() implements Loss {
    @Override
    public double compute(Tensor predictions, Tensor targets, float[] grad) {
      Loss.checkSizes(predictions, targets, grad, predictions.size());
      float[] p = predictions.data(), t = targets.data();
      double total = 0;
      for (int i = 0; i < p.length; i++) {
        double d = p[i] - t[i];
        total += d * d;
        grad[i] = (float) (2 * d / p.length);
      }
      return total / p.length;
    }

    @Override
    public String name() {
      return "mean_squared_error";
    }
  }
}
