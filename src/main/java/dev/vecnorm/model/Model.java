package dev.vecnorm.model;

import dev.vecnorm.layers.BatchNormalization;
import dev.vecnorm.layers.Dense;
import dev.vecnorm.layers.Activation;
import dev.vecnorm.layers.Add;
import dev.vecnorm.layers.Layer;
import dev.vecnorm.layers.Merge;
import dev.vecnorm.layers.Parameter;
import dev.vecnorm.layers.SymbolicTensor;
import dev.vecnorm.layers.Tensor;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.SplittableRandom;

/**
 * Keras's functional {@code Model(inputs, outputs)}: a graph of layers applied to symbolic tensors
 * ({@link dev.vecnorm.layers.Input#shape(int...)}, {@link Layer#apply(SymbolicTensor)}, merge layers such as
 * {@link Add} and {@link dev.vecnorm.layers.Concatenate}), with {@code compile}, {@code fit}, {@code evaluate}
 * and {@code predict}. {@link Sequential} is the Model whose graph is a chain, as in Keras.
 *
 * <p>Where the graph holds a ResNet block tail, {@code ReLU(Add(BatchNormalization(x), residual))} with the BN
 * and the Add feeding nothing else, the three layers run as one pass of the fused BN+Add+ReLU kernel
 * ({@link dev.vecnorm.BatchNormRelu}, via {@link BatchNormalization#callAddRelu}), forward and backward;
 * {@link #fusedBlocks()} counts them. The results are those of the three layers.
 *
 * <p>fit, evaluate, predict and trainOnBatch take one input and one output; a model of several inputs or
 * outputs runs through {@link #call(List, boolean)}.
 *
 * <p>Bad arguments throw {@code IllegalArgumentException} naming the argument and what was expected,
 * before any layer runs: x's shape is checked against the model's input, targets are checked against the
 * loss (class indices in range for sparse categorical cross-entropy, one finite target per output for
 * mean squared error), validation data against x. So a rejected {@code fit}, {@code trainOnBatch},
 * {@code evaluate}, {@code predict} or {@code setWeights} leaves every weight and moving statistic as
 * it was. Not thread-safe: layers keep the last call for backward, so use one model from one thread at
 * a time (or one copy per thread).
 */
public class Model {
  Optimizer optimizer;
  Loss loss;
  List<String> metrics = List.of();
  int[] inputShape;
  /** Nanoseconds spent inside BatchNormalization layers (forward + backward) since the last reset. */
  long batchNormNanos;

  private final List<SymbolicTensor> inputs, outputs;
  /** Every non-input tensor of the graph, each after the tensors it is computed from. */
  private final List<SymbolicTensor> nodes;
  private final List<Layer> graphLayers;
  /** Fused blocks by their ReLU node; the BN and Add nodes inside them are not run on their own. */
  private final Map<SymbolicTensor, SymbolicTensor[]> fused = new IdentityHashMap<>();
  private final Set<SymbolicTensor> inFusedBlock = java.util.Collections.newSetFromMap(new IdentityHashMap<>());

  /** For {@link Sequential}, whose chain of layers grows with {@code add}. */
  Model() {
    inputs = outputs = nodes = null;
    graphLayers = null;
  }

  /**
   * The graph from one input to one output, as {@link #Model(List, List)}.
   *
   * @param input the symbolic input; not null
   * @param output the symbolic output; not null
   */
  public Model(SymbolicTensor input, SymbolicTensor output) {
    this(List.of(Objects.requireNonNull(input, "input")), List.of(Objects.requireNonNull(output, "output")));
  }

  /**
   * The graph from {@code inputs} to {@code outputs}. Every layer may appear once (a shared layer keeps one
   * call for backward, so it is rejected by name), and every path from an output must end at one of
   * {@code inputs}.
   *
   * @param inputs the graph's symbolic inputs, from {@link dev.vecnorm.layers.Input}; not null
   * @param outputs the graph's symbolic outputs; not null
   */
  public Model(List<SymbolicTensor> inputs, List<SymbolicTensor> outputs) {
    Objects.requireNonNull(inputs, "inputs");
    Objects.requireNonNull(outputs, "outputs");
    if (inputs.isEmpty() || outputs.isEmpty()) throw new IllegalArgumentException("a Model needs at least one input and one output");
    for (SymbolicTensor t : inputs) {
      if (Objects.requireNonNull(t, "inputs[i]").layer() != null) throw new IllegalArgumentException("inputs must be Input.shape(...) tensors, got " + t);
    }
    this.inputs = List.copyOf(inputs);
    this.outputs = List.copyOf(outputs);
    List<SymbolicTensor> order = new ArrayList<>();
    Set<SymbolicTensor> done = java.util.Collections.newSetFromMap(new IdentityHashMap<>());
    for (SymbolicTensor o : outputs) visit(Objects.requireNonNull(o, "outputs[i]"), done, order, new ArrayList<>());
    this.nodes = List.copyOf(order);
    List<Layer> layers = new ArrayList<>();
    Set<Layer> seen = java.util.Collections.newSetFromMap(new IdentityHashMap<>());
    for (SymbolicTensor n : nodes) {
      if (!seen.add(n.layer())) {
        throw new IllegalArgumentException("layer '" + n.layer().name() + "' is applied more than once; shared layers are not supported");
      }
      layers.add(n.layer());
    }
    this.graphLayers = List.copyOf(layers);
    int[] first = inputs.get(0).shape();
    this.inputShape = new int[first.length + 1];
    this.inputShape[0] = 1;
    System.arraycopy(first, 0, this.inputShape, 1, first.length);
    findFusedBlocks();
  }

  private void visit(SymbolicTensor t, Set<SymbolicTensor> done, List<SymbolicTensor> order, List<SymbolicTensor> path) {
    if (done.contains(t)) return;
    if (t.layer() == null) {
      for (SymbolicTensor in : inputs) if (in == t) return;
      throw new IllegalArgumentException("an output depends on an Input " + t + " that is not among the model's inputs");
    }
    for (SymbolicTensor in : t.inputs()) visit(in, done, order, path);
    done.add(t);
    order.add(t);
  }

  private void findFusedBlocks() {
    Map<SymbolicTensor, Integer> consumers = new IdentityHashMap<>();
    for (SymbolicTensor n : nodes) for (SymbolicTensor in : n.inputs()) consumers.merge(in, 1, Integer::sum);
    for (SymbolicTensor relu : nodes) {
      if (!(relu.layer() instanceof Activation a) || a.kind() != Activation.Kind.RELU) continue;
      SymbolicTensor add = relu.inputs().get(0);
      if (!(add.layer() instanceof Add) || add.inputs().size() != 2 || consumers.get(add) != 1 || outputs.contains(add)) continue;
      for (int k = 0; k < 2; k++) {
        SymbolicTensor bn = add.inputs().get(k), residual = add.inputs().get(1 - k);
        if (bn.layer() instanceof BatchNormalization b && b.fusesAddRelu() && consumers.get(bn) == 1 && !outputs.contains(bn) && bn != residual) {
          fused.put(relu, new SymbolicTensor[] {bn, add, residual});
          inFusedBlock.add(bn);
          inFusedBlock.add(add);
          break;
        }
      }
    }
  }

  /**
   * How many BN+Add+ReLU blocks of the graph run as one fused kernel (0 for a Sequential).
   *
   * @return the number of fused blocks
   */
  public int fusedBlocks() {
    return fused.size();
  }

  /**
   * Every layer, each after the layers it takes its inputs from.
   *
   * @return the layers, in an order valid for a forward pass
   */
  public List<Layer> layers() {
    return graphLayers;
  }

  /**
   * The model's symbolic inputs (empty for a Sequential).
   *
   * @return the symbolic inputs, in the order the model was built with
   */
  public List<SymbolicTensor> inputs() {
    return inputs == null ? List.of() : inputs;
  }

  /**
   * The model's symbolic outputs (empty for a Sequential).
   *
   * @return the symbolic outputs, in the order the model was built with
   */
  public List<SymbolicTensor> outputs() {
    return outputs == null ? List.of() : outputs;
  }

  /**
   * A functional model is built when its layers are applied; this only checks that the shape fits.
   *
   * @param inputShape shape of one sample, without the batch dimension
   */
  public void build(int... inputShape) {
    checkShapes(Objects.requireNonNull(inputShape, "inputShape"), "inputShape");
  }

  /** The output shape for an x of this shape, or an {@code IllegalArgumentException} naming {@code what}. */
  int[] checkShapes(int[] shape, String what) {
    requireSingle();
    checkInput(inputs.get(0), shape, what);
    int[] out = outputs.get(0).shape(), s = new int[out.length + 1];
    s[0] = shape[0];
    System.arraycopy(out, 0, s, 1, out.length);
    return s;
  }

  private static void checkInput(SymbolicTensor input, int[] shape, String what) {
    int[] expected = input.shape();
    if (shape.length != expected.length + 1 || !Arrays.equals(Arrays.copyOfRange(shape, 1, shape.length), expected)) {
      throw new IllegalArgumentException(what + " " + Arrays.toString(shape) + " does not fit the model: expected [batch, "
          + Arrays.toString(expected).replace("[", "").replace("]", "") + "]");
    }
  }

  private void requireSingle() {
    if (inputs.size() != 1 || outputs.size() != 1) {
      throw new IllegalArgumentException("this model has " + inputs.size() + " inputs and " + outputs.size()
          + " outputs: fit, evaluate and predict take one of each; use call(List, training)");
    }
  }

  Tensor run(Tensor x, boolean training) {
    return forwardGraph(List.of(x), training).get(0);
  }

  /**
   * Keras's {@code model([x1, x2], training=...)}: one tensor per input, in the order of {@code inputs}; returns
   * one per output. With {@code training} true the layers keep what {@link #backward} needs.
   *
   * @param xs one batch tensor per input, in the order of {@link #inputs()}; not null
   * @param training true for training mode (batch statistics, Dropout active), false for inference
   * @return one output tensor per output, in the order of {@link #outputs()}
   */
  public List<Tensor> call(List<Tensor> xs, boolean training) {
    Objects.requireNonNull(xs, "xs");
    if (inputs == null) {
      if (xs.size() != 1) throw new IllegalArgumentException("a Sequential takes one input, got " + xs.size());
      return List.of(forward(xs.get(0), training));
    }
    if (xs.size() != inputs.size()) throw new IllegalArgumentException("expected " + inputs.size() + " input tensors, got " + xs.size());
    for (int i = 0; i < xs.size(); i++) {
      Tensor x = Objects.requireNonNull(xs.get(i), "xs[" + i + "]");
      checkInput(inputs.get(i), x.shape(), "xs[" + i + "]");
      if (x.dim(0) != xs.get(0).dim(0)) throw new IllegalArgumentException("xs[" + i + "] has " + x.dim(0) + " samples, xs[0] has " + xs.get(0).dim(0));
    }
    return forwardGraph(xs, training);
  }

  private List<Tensor> forwardGraph(List<Tensor> xs, boolean training) {
    Map<SymbolicTensor, Tensor> values = new IdentityHashMap<>();
    for (int i = 0; i < inputs.size(); i++) values.put(inputs.get(i), xs.get(i));
    for (SymbolicTensor n : nodes) {
      if (inFusedBlock.contains(n)) continue; // computed by the block's ReLU node
      Layer l = n.layer();
      long t0 = System.nanoTime();
      SymbolicTensor[] block = fused.get(n);
      Tensor y;
      if (block != null) {
        y = ((BatchNormalization) block[0].layer()).callAddRelu(values.get(block[0].inputs().get(0)), values.get(block[2]), training);
        batchNormNanos += System.nanoTime() - t0;
      } else if (l instanceof Merge m) {
        List<Tensor> in = new ArrayList<>();
        for (SymbolicTensor t : n.inputs()) in.add(values.get(t));
        y = m.call(in, training);
      } else {
        y = l.call(values.get(n.inputs().get(0)), training);
        if (l instanceof BatchNormalization) batchNormNanos += System.nanoTime() - t0;
      }
      values.put(n, y);
    }
    List<Tensor> out = new ArrayList<>();
    for (SymbolicTensor o : outputs) out.add(values.get(o));
    return out;
  }

  void backward(Tensor grad) {
    backward(List.of(grad));
  }

  /** Gradients of every output of the last training call; adds to every parameter's gradient. */
  void backward(List<Tensor> outputGrads) {
    Map<SymbolicTensor, Tensor> grads = new IdentityHashMap<>();
    for (int i = 0; i < outputs.size(); i++) accumulate(grads, outputs.get(i), outputGrads.get(i));
    for (int k = nodes.size() - 1; k >= 0; k--) {
      SymbolicTensor n = nodes.get(k);
      Tensor g = grads.get(n);
      if (g == null || inFusedBlock.contains(n)) continue;
      long t0 = System.nanoTime();
      SymbolicTensor[] block = fused.get(n);
      if (block != null) {
        Tensor[] d = ((BatchNormalization) block[0].layer()).backwardAddRelu(g);
        batchNormNanos += System.nanoTime() - t0;
        accumulate(grads, block[0].inputs().get(0), d[0]);
        accumulate(grads, block[2], d[1]);
      } else if (n.layer() instanceof Merge m) {
        List<Tensor> d = m.backwardAll(g);
        for (int i = 0; i < d.size(); i++) accumulate(grads, n.inputs().get(i), d.get(i));
      } else {
        Tensor d = n.layer().backward(g);
        if (n.layer() instanceof BatchNormalization) batchNormNanos += System.nanoTime() - t0;
        accumulate(grads, n.inputs().get(0), d);
      }
    }
  }

  /** A tensor feeding several layers gets the sum of their gradients. */
  private static void accumulate(Map<SymbolicTensor, Tensor> grads, SymbolicTensor t, Tensor g) {
    if (t.layer() == null) return; // an input: nothing to propagate to
    Tensor before = grads.get(t);
    if (before == null) {
      grads.put(t, g);
      return;
    }
    float[] sum = before.data().clone(), add = g.data();
    for (int i = 0; i < sum.length; i++) sum[i] += add[i];
    grads.put(t, new Tensor(before.shape(), sum));
  }

  /**
   * Shape of one sample the model was built for.
   *
   * @return a copy of the shape without the batch dimension, or null before it is built
   */
  public int[] inputShape() {
    return inputShape == null ? null : inputShape.clone();
  }

  /**
   * Metrics: "accuracy" or "sparse_categorical_accuracy" (argmax equals the class index), both only
   * with sparse categorical cross-entropy, whose targets are class indices.
   *
   * @param optimizer updates the trainable parameters; not null
   * @param loss the loss to minimize; not null
   * @param metrics metric names to report besides the loss, possibly empty; not null
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

  /**
   * The metrics {@link #compile} was given, for training loops outside {@link #fit} that log what fit logs.
   *
   * @return the metric names, empty before compile
   */
  public List<String> metrics() {
    return metrics;
  }

  /**
   * The model's output for {@code x}; the whole stack checks x's shape before any layer runs.
   *
   * @param x a batch, {@code [batch, ...inputShape]}; not null
   * @param training true for training mode (batch statistics, Dropout active), false for inference
   * @return the output batch
   */
  public Tensor forward(Tensor x, boolean training) {
    Objects.requireNonNull(x, "x");
    checkShapes(x.shape(), "x");
    return run(x, training);
  }

  /**
   * Wall time spent in BatchNormalization layers' forward and backward since the last reset, for profiling.
   *
   * @return nanoseconds
   */
  public long batchNormNanos() {
    return batchNormNanos;
  }

  /** Sets {@link #batchNormNanos()} back to 0. */
  public void resetBatchNormTimer() {
    batchNormNanos = 0;
  }

  private List<Parameter> trainableParameters() {
    List<Parameter> p = new ArrayList<>();
    for (Layer l : layers()) p.addAll(l.trainableParameters());
    return p;
  }

  private double regularization() {
    double r = 0;
    for (Layer l : layers()) {
      if (l instanceof BatchNormalization bn) r += bn.regularizationLoss();
      else if (l instanceof dev.vecnorm.layers.LayerNormalization ln) r += ln.regularizationLoss();
      else if (l instanceof dev.vecnorm.layers.GroupNormalization gn) r += gn.regularizationLoss();
      else if (l instanceof Dense d) r += d.regularizationLoss();
      else if (l instanceof dev.vecnorm.layers.WeightNormalization wn) r += wn.regularizationLoss();
    }
    return r;
  }

  /**
   * One optimizer step on a batch; returns the loss including regularization. x and y are checked as
   * in {@link #fit} before anything runs. {@code predictionsOut}, if not null, receives the batch's
   * predictions in element 0.
   *
   * @param x the batch's inputs, {@code [batch, ...inputShape]}
   * @param y the batch's targets (class indices for sparse categorical cross-entropy)
   * @param predictionsOut null, or an array of at least one element that receives the predictions in element 0
   * @return the batch's loss, regularization included, before the step
   */
  public double trainOnBatch(Tensor x, Tensor y, float[][] predictionsOut) {
    requireCompiled();
    if (predictionsOut != null && predictionsOut.length < 1) throw new IllegalArgumentException("predictionsOut must have length >= 1, got 0");
    checkData(x, y, "x", "y");
    return step(x, y, predictionsOut);
  }

  /**
   * One step of one replica in synchronous data-parallel training. The replica's loss gradient is scaled by
   * {@code lossWeight} (its share of the global batch, {@code localBatch / globalBatch}) before the backward
   * pass; {@code gradients} then sums the parameter gradients over the replicas, so each replica holds the
   * gradient of the global batch's mean loss; the regularization gradient is added once, after the sum; then
   * the optimizer steps. With synchronized BatchNormalization layers this is the step one model would take on
   * the global batch, up to float rounding. x and y are checked as in {@link #fit}.
   *
   * @param x this replica's part of the global batch, {@code [batch, ...inputShape]}
   * @param y its targets
   * @param lossWeight this replica's share of the global batch, in (0, 1]
   * @param gradients sums the gradients over the replicas; not null
   * @param predictionsOut null, or an array of at least one element that receives the local predictions in element 0
   * @return this replica's mean loss, regularization included, before the step
   */
  public double trainOnBatch(Tensor x, Tensor y, double lossWeight, GradientReducer gradients, float[][] predictionsOut) {
    requireCompiled();
    Objects.requireNonNull(gradients, "gradients");
    if (!(lossWeight > 0 && lossWeight <= 1)) throw new IllegalArgumentException("lossWeight must be in (0, 1], got " + lossWeight);
    if (predictionsOut != null && predictionsOut.length < 1) throw new IllegalArgumentException("predictionsOut must have length >= 1, got 0");
    checkData(x, y, "x", "y");
    return step(x, y, lossWeight, gradients, predictionsOut);
  }

  private double step(Tensor x, Tensor y, float[][] predictionsOut) {
    return step(x, y, 1, null, predictionsOut);
  }

  private double step(Tensor x, Tensor y, double lossWeight, GradientReducer gradients, float[][] predictionsOut) {
    Tensor out = run(x, true);
    float[] grad = new float[out.size()];
    double value = loss.compute(out, y, grad);
    if (lossWeight != 1) for (int i = 0; i < grad.length; i++) grad[i] = (float) (grad[i] * lossWeight);
    List<Parameter> params = trainableParameters();
    for (Parameter p : params) p.zeroGrad();
    backward(new Tensor(out.shape(), grad));
    if (gradients != null) gradients.allReduceSum(params);
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
   *
   * @param x training inputs, {@code [samples, ...inputShape]}
   * @param y training targets, one row per sample
   * @param options batch size, epochs, validation, shuffling, output and callbacks; not null
   * @return the per-epoch loss and metrics
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

  /**
   * Loss and metrics over a data set, in inference mode; x and y are checked as in {@link #fit}.
   *
   * @param x inputs, {@code [samples, ...inputShape]}
   * @param y targets, one row per sample
   * @param batchSize samples per forward pass, at least 1
   * @return {@code loss} and each compiled metric, averaged over the samples
   */
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

  /**
   * Outputs for every row of x, in inference mode; 0 rows give an empty result of shape {@code [0, ...]} as Keras.
   *
   * @param x inputs, {@code [samples, ...inputShape]}
   * @param batchSize samples per forward pass, at least 1
   * @return the outputs, one row per sample
   */
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
   * Every layer's weights, in layer order.
   *
   * @return per layer, that layer's weights (copies)
   */
  public List<List<float[]>> getWeights() {
    List<List<float[]>> w = new ArrayList<>();
    for (Layer l : layers()) w.add(l.getWeights());
    return w;
  }

  /**
   * Sets every layer's weights; any wrong count or size throws and leaves every layer's weights as they were.
   *
   * @param weights per layer, in {@link #layers()} order, that layer's weights as {@link #getWeights()} returns them; not null
   */
  public void setWeights(List<List<float[]>> weights) {
    Objects.requireNonNull(weights, "weights");
    List<Layer> layers = layers();
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

