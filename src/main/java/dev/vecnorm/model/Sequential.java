package dev.vecnorm.model;

import dev.vecnorm.layers.BatchNormalization;
import dev.vecnorm.layers.Dense;
import dev.vecnorm.layers.Initializer;
import dev.vecnorm.layers.Layer;
import dev.vecnorm.layers.Parameter;
import dev.vecnorm.layers.Tensor;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.SplittableRandom;

/**
 * Keras's {@code Sequential}: a stack of layers with {@code compile}, {@code fit}, {@code evaluate} and
 * {@code predict}. Training is deterministic given the seeds of the layers and of {@link FitOptions}.
 */
public final class Sequential {
  private final List<Layer> layers = new ArrayList<>();
  private Optimizer optimizer;
  private Loss loss;
  private List<String> metrics = List.of();
  private int[] inputShape;
  /** Nanoseconds spent inside BatchNormalization layers (forward + backward) since the last reset. */
  private long batchNormNanos;

  public Sequential(Layer... layers) {
    for (Layer l : layers) add(l);
  }

  public Sequential add(Layer layer) {
    layers.add(Objects.requireNonNull(layer, "layer"));
    return this;
  }

  public List<Layer> layers() {
    return List.copyOf(layers);
  }

  /** Builds every layer for inputs of this shape (batch dimension first, any size). */
  public void build(int... inputShape) {
    int[] shape = inputShape.clone();
    this.inputShape = shape.clone();
    for (Layer l : layers) {
      l.build(shape);
      shape = l.computeOutputShape(shape);
    }
  }

  public int[] inputShape() {
    return inputShape == null ? null : inputShape.clone();
  }

  /** Metrics: "accuracy" or "sparse_categorical_accuracy" (argmax equals the class index). */
  public void compile(Optimizer optimizer, Loss loss, List<String> metrics) {
    this.optimizer = Objects.requireNonNull(optimizer, "optimizer");
    this.loss = Objects.requireNonNull(loss, "loss");
    for (String m : metrics) {
      if (!m.equals("accuracy") && !m.equals("sparse_categorical_accuracy")) {
        throw new IllegalArgumentException("unknown metric '" + m + "' (expected accuracy or sparse_categorical_accuracy)");
      }
    }
    this.metrics = List.copyOf(metrics);
  }

  public Tensor forward(Tensor x, boolean training) {
    if (inputShape == null) build(x.shape());
    Tensor t = x;
    for (Layer l : layers) {
      long t0 = l instanceof BatchNormalization ? System.nanoTime() : 0;
      t = l.call(t, training);
      if (l instanceof BatchNormalization) batchNormNanos += System.nanoTime() - t0;
    }
    return t;
  }

  private void backward(Tensor grad) {
    for (int i = layers.size() - 1; i >= 0; i--) {
      Layer l = layers.get(i);
      long t0 = l instanceof BatchNormalization ? System.nanoTime() : 0;
      grad = l.backward(grad);
      if (l instanceof BatchNormalization) batchNormNanos += System.nanoTime() - t0;
    }
  }

  public long batchNormNanos() {
    return batchNormNanos;
  }

  public void resetBatchNormTimer() {
    batchNormNanos = 0;
  }

  private List<Parameter> trainableParameters() {
    List<Parameter> p = new ArrayList<>();
    for (Layer l : layers) p.addAll(l.trainableParameters());
    return p;
  }

  private double regularization() {
    double r = 0;
    for (Layer l : layers) {
      if (l instanceof BatchNormalization bn) r += bn.regularizationLoss();
      else if (l instanceof Dense d) r += d.regularizationLoss();
    }
    return r;
  }

  /** One optimizer step on a batch; returns the loss including regularization. */
  public double trainOnBatch(Tensor x, Tensor y, float[][] predictionsOut) {
    requireCompiled();
    Tensor out = forward(x, true);
    float[] grad = new float[out.size()];
    double value = loss.compute(out, y, grad);
    List<Parameter> params = trainableParameters();
    for (Parameter p : params) p.zeroGrad();
    backward(new Tensor(out.shape(), grad));
    value += regularization();
    optimizer.step(params);
    if (predictionsOut != null) predictionsOut[0] = out.data();
    return value;
  }

  private void requireCompiled() {
    if (optimizer == null) throw new IllegalStateException("compile the model before fit/evaluate");
  }

  /** Keras's {@code fit}; see {@link FitOptions} for the arguments and their defaults. */
  public History fit(Tensor x, Tensor y, FitOptions options) {
    requireCompiled();
    Objects.requireNonNull(options, "options");
    checkData(x, y, "x", "y");
    int n = x.dim(0);
    Tensor trainX = x, trainY = y, valX = null, valY = null;
    if (options.validationData != null) {
      valX = options.validationData[0];
      valY = options.validationData[1];
      checkData(valX, valY, "validationData x", "validationData y");
    } else if (options.validationSplit > 0) {
      // Keras: the validation split is the last fraction of the data, taken before any shuffling.
      int nVal = (int) (n * options.validationSplit);
      if (nVal < 1 || nVal >= n) {
        throw new IllegalArgumentException("validationSplit " + options.validationSplit + " leaves " + nVal + " of " + n + " samples for validation");
      }
      trainX = rows(x, 0, n - nVal);
      trainY = rows(y, 0, n - nVal);
      valX = rows(x, n - nVal, n);
      valY = rows(y, n - nVal, n);
    }
    int nTrain = trainX.dim(0);
    if (inputShape == null) {
      int[] s = x.shape();
      s[0] = Math.min(options.batchSize, nTrain);
      build(s);
    }
    for (Callback c : options.callbacks) if (c instanceof EarlyStopping es) es.attach(this);
    SplittableRandom random = new SplittableRandom(options.seed);
    int[] order = new int[nTrain];
    for (int i = 0; i < nTrain; i++) order[i] = i;
    History history = new History();
    PrintStream out = options.out;
    int steps = (nTrain + options.batchSize - 1) / options.batchSize;
    for (int epoch = 0; epoch < options.epochs; epoch++) {
      for (Callback c : options.callbacks) c.onEpochBegin(epoch);
      if (options.shuffle) shuffle(order, random);
      long start = System.nanoTime(), lastDraw = start;
      double lossSum = 0;
      long correct = 0, seen = 0;
      if (options.verbose == 1) out.printf("Epoch %d/%d%n", epoch + 1, options.epochs);
      for (int b = 0; b < steps; b++) {
        int from = b * options.batchSize, to = Math.min(nTrain, from + options.batchSize);
        Tensor bx = gather(trainX, order, from, to), by = gather(trainY, order, from, to);
        float[][] pred = new float[1][];
        double batchLoss = trainOnBatch(bx, by, pred);
        lossSum += batchLoss * (to - from);
        seen += to - from;
        if (!metrics.isEmpty()) correct += countCorrect(pred[0], by);
        Map<String, Double> logs = logs(lossSum / seen, (double) correct / seen);
        for (Callback c : options.callbacks) c.onBatchEnd(b, logs);
        // Redraw at most every 100 ms, as Keras's progress bar does, so logs are not flooded.
        if (options.verbose == 1 && System.nanoTime() - lastDraw > 100_000_000L) {
          progress(out, b + 1, steps, System.nanoTime() - start, logs, false);
          lastDraw = System.nanoTime();
        }
      }
      Map<String, Double> logs = logs(lossSum / seen, (double) correct / seen);
      if (valX != null) {
        Map<String, Double> val = evaluate(valX, valY, options.batchSize);
        val.forEach((k, v) -> logs.put("val_" + k, v));
      }
      history.record(logs);
      if (options.verbose == 1) progress(out, steps, steps, System.nanoTime() - start, logs, true);
      if (options.verbose == 2) {
        out.printf(Locale.ROOT, "Epoch %d/%d - %.1fs - %s%n", epoch + 1, options.epochs, (System.nanoTime() - start) / 1e9, format(logs));
      }
      boolean stop = false;
      for (Callback c : options.callbacks) {
        c.onEpochEnd(epoch, logs);
        stop |= c.stopTraining();
      }
      if (stop) break;
    }
    return history;
  }

  private Map<String, Double> logs(double lossValue, double accuracy) {
    Map<String, Double> logs = new LinkedHashMap<>();
    logs.put("loss", lossValue);
    for (String m : metrics) logs.put(m, accuracy);
    return logs;
  }

  private static String format(Map<String, Double> logs) {
    StringBuilder sb = new StringBuilder();
    logs.forEach((k, v) -> sb.append(sb.isEmpty() ? "" : " - ").append(k).append(": ").append(String.format(Locale.ROOT, "%.4f", v)));
    return sb.toString();
  }

  /** Keras-style bar: {@code 12/40 [======>.......] - ETA: 3s - loss: 0.52 - accuracy: 0.81}. */
  private static void progress(PrintStream out, int done, int total, long elapsedNanos, Map<String, Double> logs, boolean end) {
    int width = 30, filled = (int) ((long) width * done / total);
    String bar = "=".repeat(Math.max(0, filled - 1)) + (filled > 0 ? (done == total ? "=" : ">") : "") + ".".repeat(width - filled);
    double perStep = elapsedNanos / 1e9 / done;
    String time = end ? String.format(Locale.ROOT, "%.0fs %.0fms/step", elapsedNanos / 1e9, perStep * 1e3)
        : String.format(Locale.ROOT, "ETA: %.0fs", perStep * (total - done));
    out.print(String.format(Locale.ROOT, "\r%" + String.valueOf(total).length() + "d/%d [%s] - %s - %s", done, total, bar, time, format(logs)));
    if (end) out.println();
    out.flush();
  }

  /** Loss and metrics over a data set, in inference mode. */
  public Map<String, Double> evaluate(Tensor x, Tensor y, int batchSize) {
    requireCompiled();
    checkData(x, y, "x", "y");
    if (batchSize < 1) throw new IllegalArgumentException("batchSize must be >= 1, got " + batchSize);
    int n = x.dim(0);
    double lossSum = 0;
    long correct = 0;
    for (int from = 0; from < n; from += batchSize) {
      int to = Math.min(n, from + batchSize);
      Tensor bx = rows(x, from, to), by = rows(y, from, to);
      Tensor out = forward(bx, false);
      lossSum += loss.compute(out, by, new float[out.size()]) * (to - from);
      if (!metrics.isEmpty()) correct += countCorrect(out.data(), by);
    }
    return logs(lossSum / n, (double) correct / n);
  }

  public Tensor predict(Tensor x, int batchSize) {
    if (batchSize < 1) throw new IllegalArgumentException("batchSize must be >= 1, got " + batchSize);
    int n = x.dim(0);
    List<float[]> parts = new ArrayList<>();
    int[] outShape = null;
    for (int from = 0; from < n; from += batchSize) {
      Tensor out = forward(rows(x, from, Math.min(n, from + batchSize)), false);
      parts.add(out.data());
      outShape = out.shape();
    }
    int per = parts.get(0).length / Math.min(n, batchSize);
    float[] all = new float[n * per];
    int at = 0;
    for (float[] p : parts) {
      System.arraycopy(p, 0, all, at, p.length);
      at += p.length;
    }
    outShape[0] = n;
    return new Tensor(outShape, all);
  }

  private void checkData(Tensor x, Tensor y, String xName, String yName) {
    Objects.requireNonNull(x, xName);
    Objects.requireNonNull(y, yName);
    if (x.rank() < 1 || x.dim(0) == 0) throw new IllegalArgumentException(xName + " is empty");
    if (y.rank() < 1 || y.dim(0) != x.dim(0)) {
      throw new IllegalArgumentException(xName + " has " + x.dim(0) + " samples but " + yName + " has " + (y.rank() < 1 ? 0 : y.dim(0)));
    }
    if (loss instanceof Loss.SparseCategoricalCrossentropy) {
      int classes = layers.isEmpty() ? Integer.MAX_VALUE : outputClasses(x);
      float[] t = y.data();
      for (int i = 0; i < t.length; i++) {
        if (t[i] != Math.rint(t[i]) || t[i] < 0 || t[i] >= classes) {
          throw new IllegalArgumentException(yName + "[" + i + "] = " + t[i] + " is not a class index in [0, " + classes + ")");
        }
      }
    }
  }

  private int outputClasses(Tensor x) {
    int[] s = x.shape();
    s[0] = 1;
    for (Layer l : layers) {
      if (!l.isBuilt()) return Integer.MAX_VALUE;
      s = l.computeOutputShape(s);
    }
    return s[s.length - 1];
  }

  private int countCorrect(float[] pred, Tensor y) {
    int n = y.dim(0), k = pred.length / n;
    int correct = 0;
    for (int i = 0; i < n; i++) {
      int best = 0;
      for (int j = 1; j < k; j++) if (pred[i * k + j] > pred[i * k + best]) best = j;
      if (best == (int) y.data()[i]) correct++;
    }
    return correct;
  }

  static Tensor rows(Tensor t, int from, int to) {
    int per = t.size() / t.dim(0);
    int[] s = t.shape();
    s[0] = to - from;
    return new Tensor(s, Arrays.copyOfRange(t.data(), from * per, to * per));
  }

  private static Tensor gather(Tensor t, int[] order, int from, int to) {
    int per = t.size() / t.dim(0);
    float[] out = new float[(to - from) * per];
    for (int i = from; i < to; i++) System.arraycopy(t.data(), order[i] * per, out, (i - from) * per, per);
    int[] s = t.shape();
    s[0] = to - from;
    return new Tensor(s, out);
  }

  private static void shuffle(int[] a, SplittableRandom r) {
    for (int i = a.length - 1; i > 0; i--) {
      int j = r.nextInt(i + 1), t = a[i];
      a[i] = a[j];
      a[j] = t;
    }
  }

  /**
   * An inference copy in which every {@code Dense} directly followed by a {@code BatchNormalization}
   * over its units (axis -1) becomes one {@code Dense}: with {@code alpha = gamma / sqrt(movingVariance + eps)},
   * {@code W'[i][j] = W[i][j] * alpha[j]} and {@code b'[j] = (b[j] - movingMean[j]) * alpha[j] + beta[j]}.
   * The copy's predictions equal this model's in inference mode up to float rounding; this model is untouched.
   */
  public Sequential foldBatchNormForInference() {
    if (inputShape == null) throw new IllegalStateException("build or fit the model before folding it");
    Sequential folded = new Sequential();
    List<List<float[]>> weights = new ArrayList<>();
    for (int i = 0; i < layers.size(); i++) {
      Layer layer = layers.get(i);
      if (layer instanceof Dense dense && i + 1 < layers.size() && layers.get(i + 1) instanceof BatchNormalization bn
          && (bn.axis() == -1 || bn.axis() == 1)) {
        folded.add(new Dense(dense.units(), true, Initializer.zeros(), Initializer.zeros(), null, dense.name() + "_folded"));
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

  /** Every layer's weights, in layer order. */
  public List<List<float[]>> getWeights() {
    List<List<float[]>> w = new ArrayList<>();
    for (Layer l : layers) w.add(l.getWeights());
    return w;
  }

  public void setWeights(List<List<float[]>> weights) {
    if (weights.size() != layers.size()) throw new IllegalArgumentException("expected weights for " + layers.size() + " layers, got " + weights.size());
    for (int i = 0; i < layers.size(); i++) layers.get(i).setWeights(weights.get(i));
  }
}
