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
 *
 * <p>Bad arguments throw {@code IllegalArgumentException} naming the argument and what was expected,
 * before any layer runs: x's shape is walked through every layer, targets are checked against the
 * loss (class indices in range for sparse categorical cross-entropy, one finite target per output for
 * mean squared error), validation data against x. So a rejected {@code fit}, {@code trainOnBatch},
 * {@code evaluate}, {@code predict} or {@code setWeights} leaves every weight and moving statistic as
 * it was. Not thread-safe: layers keep the last call for backward, so use one model from one thread at
 * a time (or one copy per thread).
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

  /**
   * Builds every layer for inputs of this shape (batch dimension first, any size). The whole stack is
   * checked first, so a shape some layer rejects leaves every layer as it was.
   */
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
  private int[] checkShapes(int[] shape, String what) {
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

  public int[] inputShape() {
    return inputShape == null ? null : inputShape.clone();
  }

  /**
   * Metrics: "accuracy" or "sparse_categorical_accuracy" (argmax equals the class index), both only
   * with sparse categorical cross-entropy, whose targets are class indices.
   */
  public void compile(Optimizer optimizer, Loss loss, List<String> metrics) {
    Objects.requireNonNull(optimizer, "optimizer");
    Objects.requireNonNull(loss, "loss");
    Objects.requireNonNull(metrics, "metrics");
    for (String m : metrics) {
      if (!"accuracy".equals(m) && !"sparse_categorical_accuracy".equals(m)) {
        throw new IllegalArgumentException("unknown metric '" + m + "' (expected accuracy or sparse_categorical_accuracy)");
      }
      if (!(loss instanceof Loss.SparseCategoricalCrossentropy)) {
        throw new IllegalArgumentException("metric '" + m + "' compares the argmax with class indices; it needs loss "
            + "sparse_categorical_crossentropy, got " + loss.name());
      }
    }
    this.optimizer = optimizer;
    this.loss = loss;
    this.metrics = List.copyOf(metrics);
  }

  /** The model's output for {@code x}; the whole stack checks x's shape before any layer runs. */
  public Tensor forward(Tensor x, boolean training) {
    Objects.requireNonNull(x, "x");
    checkShapes(x.shape(), "x");
    return run(x, training);
  }

  private Tensor run(Tensor x, boolean training) {
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

  /**
   * One optimizer step on a batch; returns the loss including regularization. x and y are checked as
   * in {@link #fit} before anything runs. {@code predictionsOut}, if not null, receives the batch's
   * predictions in element 0.
   */
  public double trainOnBatch(Tensor x, Tensor y, float[][] predictionsOut) {
    requireCompiled();
    if (predictionsOut != null && predictionsOut.length < 1) throw new IllegalArgumentException("predictionsOut must have length >= 1, got 0");
    checkData(x, y, "x", "y");
    return step(x, y, predictionsOut);
  }

  private double step(Tensor x, Tensor y, float[][] predictionsOut) {
    Tensor out = run(x, true);
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

  /**
   * Keras's {@code fit}; see {@link FitOptions} for the arguments and their defaults. Everything is
   * checked before the first step (x and y sample counts, x's shape against every layer, targets against
   * the loss and the output width, validation data against x, callbacks' monitored values), so a call
   * that throws {@code IllegalArgumentException} has changed no weight and no moving statistic.
   */
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
      checkSameSampleShape(x, valX, "x", "validationData x"); // valY was checked against the loss and the outputs
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
    for (Callback c : options.callbacks) {
      if (c instanceof EarlyStopping es) checkMonitor(es.monitor(), valX != null);
    }
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
        double batchLoss = step(bx, by, pred);
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

  private void checkMonitor(String monitor, boolean validation) {
    List<String> keys = new ArrayList<>(List.of("loss"));
    keys.addAll(metrics);
    if (validation) for (String k : List.copyOf(keys)) keys.add("val_" + k);
    if (!keys.contains(monitor)) {
      throw new IllegalArgumentException("EarlyStopping monitors '" + monitor + "', but this fit logs only " + keys
          + (monitor.startsWith("val_") && !validation ? " (no validationSplit or validationData)" : ""));
    }
  }

  private static void checkSameSampleShape(Tensor a, Tensor b, String aName, String bName) {
    int[] sa = a.shape(), sb = b.shape();
    sa[0] = 0;
    sb[0] = 0;
    if (!Arrays.equals(sa, sb)) {
      throw new IllegalArgumentException(bName + " has shape " + Arrays.toString(b.shape()) + ", but " + aName + " has "
          + Arrays.toString(a.shape()) + ": the sample shapes (all but the first dimension) must be equal");
    }
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

  /** Loss and metrics over a data set, in inference mode; x and y are checked as in {@link #fit}. */
  public Map<String, Double> evaluate(Tensor x, Tensor y, int batchSize) {
    requireCompiled();
    if (batchSize < 1) throw new IllegalArgumentException("batchSize must be >= 1, got " + batchSize);
    checkData(x, y, "x", "y");
    int n = x.dim(0);
    double lossSum = 0;
    long correct = 0;
    for (int from = 0; from < n; from += batchSize) {
      int to = Math.min(n, from + batchSize);
      Tensor bx = rows(x, from, to), by = rows(y, from, to);
      Tensor out = run(bx, false);
      lossSum += loss.compute(out, by, new float[out.size()]) * (to - from);
      if (!metrics.isEmpty()) correct += countCorrect(out.data(), by);
    }
    return logs(lossSum / n, (double) correct / n);
  }

  /** Outputs for every row of x, in inference mode; 0 rows give an empty result of shape {@code [0, ...]} as Keras. */
  public Tensor predict(Tensor x, int batchSize) {
    Objects.requireNonNull(x, "x");
    if (batchSize < 1) throw new IllegalArgumentException("batchSize must be >= 1, got " + batchSize);
    if (x.rank() < 1) throw new IllegalArgumentException("x must have a batch dimension, got a scalar");
    int[] outShape = checkShapes(x.shape(), "x");
    int n = x.dim(0);
    if (n == 0) return Tensor.zeros(outShape);
    List<float[]> parts = new ArrayList<>();
    for (int from = 0; from < n; from += batchSize) {
      Tensor out = run(rows(x, from, Math.min(n, from + batchSize)), false);
      parts.add(out.data());
      outShape = out.shape();
    }
    int per = parts.get(0).length / Math.min(n, batchSize);
    float[] all = new float[Math.toIntExact((long) n * per)];
    int at = 0;
    for (float[] p : parts) {
      System.arraycopy(p, 0, all, at, p.length);
      at += p.length;
    }
    outShape[0] = n;
    return new Tensor(outShape, all);
  }

  /**
   * x and y: not null, the same number (>= 1) of samples, x fits every layer, and y fits the loss:
   * for sparse categorical cross-entropy one integral class index in [0, output width) per sample
   * (shape [n] or [n, 1]; one-hot rows are rejected), for mean squared error one finite target per output.
   */
  private void checkData(Tensor x, Tensor y, String xName, String yName) {
    Objects.requireNonNull(x, xName);
    Objects.requireNonNull(y, yName);
    if (x.rank() < 1 || x.dim(0) == 0) throw new IllegalArgumentException(xName + " is empty (shape " + Arrays.toString(x.shape()) + ")");
    if (y.rank() < 1 || y.dim(0) != x.dim(0)) {
      throw new IllegalArgumentException(xName + " has " + x.dim(0) + " samples but " + yName + " has " + (y.rank() < 1 ? 0 : y.dim(0)));
    }
    int[] out = checkShapes(x.shape(), xName);
    int n = x.dim(0), perSample = y.size() / n;
    long outPerSample = 1;
    for (int i = 1; i < out.length; i++) outPerSample *= out[i];
    float[] t = y.data();
    if (loss instanceof Loss.SparseCategoricalCrossentropy) {
      int classes = out[out.length - 1];
      if (perSample != 1) {
        throw new IllegalArgumentException(yName + " has shape " + Arrays.toString(y.shape()) + ", but sparse_categorical_crossentropy "
            + "takes one class index per sample (shape [" + n + "] or [" + n + ", 1])"
            + (perSample == classes ? "; this looks one-hot: pass the argmax of each row" : ""));
      }
      if (outPerSample != classes) {
        throw new IllegalArgumentException("sparse_categorical_crossentropy needs [batch, classes] outputs, the model gives "
            + Arrays.toString(out));
      }
      for (int i = 0; i < t.length; i++) {
        if (t[i] != Math.rint(t[i]) || t[i] < 0 || t[i] >= classes) {
          throw new IllegalArgumentException(yName + "[" + i + "] = " + t[i] + " is not a class index in [0, " + classes + ")");
        }
      }
    } else {
      if (perSample != outPerSample) {
        throw new IllegalArgumentException(yName + " has shape " + Arrays.toString(y.shape()) + ", but " + loss.name()
            + " needs one target per model output " + Arrays.toString(out));
      }
      for (int i = 0; i < t.length; i++) {
        if (!Float.isFinite(t[i])) throw new IllegalArgumentException(yName + "[" + i + "] = " + t[i] + " is not a finite target");
      }
    }
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
   * An inference copy in which every linear {@code Dense} directly followed by a {@code BatchNormalization}
   * over its units (axis -1) becomes one {@code Dense} (with the BN's fused ReLU, if any, as its activation): with {@code alpha = gamma / sqrt(movingVariance + eps)},
   * {@code W'[i][j] = W[i][j] * alpha[j]} and {@code b'[j] = (b[j] - movingMean[j]) * alpha[j] + beta[j]}.
   * The copy's predictions equal this model's in inference mode up to float rounding; this model is untouched.
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

  /** Every layer's weights, in layer order. */
  public List<List<float[]>> getWeights() {
    List<List<float[]>> w = new ArrayList<>();
    for (Layer l : layers) w.add(l.getWeights());
    return w;
  }

  /** Sets every layer's weights; any wrong count or size throws and leaves every layer's weights as they were. */
  public void setWeights(List<List<float[]>> weights) {
    Objects.requireNonNull(weights, "weights");
    if (weights.size() != layers.size()) throw new IllegalArgumentException("expected weights for " + layers.size() + " layers, got " + weights.size());
    List<List<float[]>> before = getWeights();
    int i = 0;
    try {
      for (; i < layers.size(); i++) layers.get(i).setWeights(weights.get(i));
    } catch (RuntimeException e) {
      for (int j = 0; j < i; j++) layers.get(j).setWeights(before.get(j)); // same sizes: cannot fail
      throw e;
    }
  }
}
