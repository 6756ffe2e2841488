package dev.vecnorm.demo;

import dev.vecnorm.BatchNorm;
import java.io.Console;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * The main job: measures, on Fashion-MNIST, the five claims made for batch normalization (Ioffe and
 * Szegedy 2015, and the Keras explainer this project started from): faster convergence, stable
 * gradients, regularization, less sensitivity to initialization, larger learning rates. Each claim
 * gets a row in the printed table with the number that decides it, and a panel in the PNG. A claim
 * that does not reproduce is reported as measured.
 */
public final class Demo {

  /** The experiments, one per claim, in the order of the claims. */
  enum Experiment {
    CONVERGENCE("convergence"), STABILITY("stability"), REGULARIZATION("regularization"), INIT("init"), LR("lr");

    final String flag;

    Experiment(String flag) {
      this.flag = flag;
    }
  }

  static final String USAGE = """
      usage: ./vecnorm demo [options]
        --experiment E   which claims to measure, comma-separated: convergence, stability,
                         regularization, init, lr, or all (default all)
        --epochs N       epochs per run for every experiment (default: 10 for convergence, init and
                         lr; 5 for stability; 20 for regularization)
        --batch-size N   mini-batch size (default 64)
        --lr X           SGD learning rate of the sigmoid nets (default 0.1); the lr experiment
                         sweeps 0.01, 0.03, 0.1, 0.3, 1, 3, 10
        --target X       validation accuracy for "epochs to reach" (default 0.80)
        --threads N      train up to N runs at once (default: 2, or 1 on a 1-core machine);
                         results do not depend on it
        --data DIR       full Fashion-MNIST IDX files (train-*, t10k-*, plain or .gz), e.g. from the
                         Debian package dataset-fashion-mnist; default: the bundled 10k test set split
                         7000 train / 1500 validation / 1500 test
        --limit N        use only the first N training samples (for quick checks)
        --out DIR        where to write batchnorm-claims.png and summary.md (default: demo-output)
        --verbose N      0 quiet, 1 progress bar, 2 one line per epoch (default: 1 on a terminal
                         running one run at a time, else 2)
        --help           this text
      """;

  /** SGD learning rates of the lr sweep: half-decades, from too small to diverging. */
  static final double[] LR_SWEEP = {0.01, 0.03, 0.1, 0.3, 1, 3, 10};
  /** A rate is usable while the final accuracy stays within this of the net's best over the sweep. */
  static final double USABLE = 0.05;
  /** Initial-weight scales of the init experiment. */
  static final double[] INIT_SCALES = {0.1, 1, 10};
  static final double DROPOUT_RATE = 0.5;
  static final double ADAM_LR = 1e-3;
  /** The regularization runs use a small training set so that a 2x256 net can overfit it in 20 epochs. */
  static final int REGULARIZATION_SAMPLES = 1500;

  record Options(Set<Experiment> experiments, int epochs, int batchSize, double lr, double target, int threads, Path data,
                 Path out, int limit, int verbose) {
    int epochsFor(Experiment e) {
      if (epochs > 0) return epochs;
      return switch (e) {
        case STABILITY -> 5;
        case REGULARIZATION -> 20;
        default -> 10;
      };
    }
  }

  public static void main(String[] args) {
    int code;
    try {
      code = run(args, System.out, stdoutIsTerminal());
    } catch (UsageException e) {
      System.err.println("vecnorm demo: " + e.getMessage() + " (see --help)");
      code = 2;
    } catch (IOException e) {
      System.err.println("vecnorm demo: " + e.getMessage());
      code = 1;
    }
    System.exit(code);
  }

  /** A bad command line: reported in one line with a pointer to --help, exit status 2. */
  static final class UsageException extends IllegalArgumentException {
    private static final long serialVersionUID = 1L;

    UsageException(String message) {
      super(message);
    }
  }

  /** A progress bar redrawn with \r belongs on a terminal only; a log gets one line per epoch. */
  static boolean stdoutIsTerminal() {
    Console c = System.console();
    return c != null && c.isTerminal();
  }

  static int run(String[] args, PrintStream out, boolean terminal) throws IOException {
    Options o = parse(args, terminal);
    if (o == null) {
      out.print(USAGE);
      return 0;
    }
    // Before any training: a bad --out must not cost minutes of work.
    checkWritableFolder(o.out());
    Data d = load(o);
    out.printf(Locale.ROOT, "vecnorm demo: Fashion-MNIST %s, %d train / %d validation / %d test, kernels: %s, %d thread%s%n",
        o.data() == null ? "(bundled 10k test set)" : o.data().toString(), d.train().size(), d.validation().size(), d.test().size(),
        BatchNorm.implementationName(), o.threads(), o.threads() == 1 ? "" : "s");

    List<Training.Spec> specs = specs(o, d.train().size());
    Map<Training.Spec, Training.Result> results = train(specs, o, d, out);
    Claims claims = new Claims(o, d, results);
    String table = claims.table();
    out.println();
    out.print(table);
    out.println();
    out.print(claims.details());
    Path png = o.out().resolve("batchnorm-claims.png");
    Figure.write(png, claims);
    Files.writeString(o.out().resolve("summary.md"), table + "\n" + claims.details(), StandardCharsets.UTF_8);
    out.println();
    out.println("figure: " + png.toAbsolutePath());
    return 0;
  }

  record Data(FashionMnist.Split train, FashionMnist.Split validation, FashionMnist.Split test) {}

  static Data load(Options o) throws IOException {
    FashionMnist.Split train, validation, test;
    if (o.data() != null) {
      if (!Files.isDirectory(o.data())) throw new UsageException("--data " + o.data() + " is not a directory");
      FashionMnist.Split full = FashionMnist.fromDirectory(o.data(), "train");
      int nVal = full.size() / 12;
      train = full.rows(0, full.size() - nVal);
      validation = full.rows(full.size() - nVal, full.size());
      test = FashionMnist.fromDirectory(o.data(), "t10k");
    } else {
      FashionMnist.Split all = FashionMnist.bundledTestSet();
      train = all.rows(0, 7000);
      validation = all.rows(7000, 8500);
      test = all.rows(8500, all.size());
    }
    if (o.limit() > 0 && o.limit() < train.size()) train = train.rows(0, o.limit());
    return new Data(train, validation, test);
  }

  /**
   * Creates the output folder and proves it writable with a probe file, so that a bad {@code --out}
   * fails in milliseconds with the reason, not after every training has run.
   */
  static void checkWritableFolder(Path dir) throws IOException {
    if (Files.exists(dir) && !Files.isDirectory(dir)) {
      throw new IOException("--out " + dir + " is a file, not a folder");
    }
    try {
      Files.createDirectories(dir);
      Path probe = Files.createTempFile(dir, ".vecnorm-demo-", ".probe");
      Files.delete(probe);
    } catch (FileSystemException e) {
      throw new IOException("--out " + dir + " is not a writable folder: " + reason(e) + " (" + nearestExisting(dir) + ")", e);
    } catch (IOException | SecurityException e) {
      throw new IOException("--out " + dir + " is not a writable folder: " + e, e);
    }
  }

  /** The OS's words when it gave them; NIO leaves them out of some exceptions (e.g. mkdir in /proc). */
  private static String reason(FileSystemException e) {
    if (e.getReason() != null) return e.getReason().toLowerCase(Locale.ROOT);
    if (e instanceof java.nio.file.NoSuchFileException) return "the file system refused to create " + e.getFile();
    if (e instanceof java.nio.file.AccessDeniedException) return "permission denied on " + e.getFile();
    return e.getClass().getSimpleName() + " on " + e.getFile();
  }

  /** Where the path stops existing, to point at the folder that refused. */
  private static String nearestExisting(Path dir) {
    Path p = dir.toAbsolutePath().normalize();
    while (p != null && !Files.exists(p)) p = p.getParent();
    if (p == null) return "no part of the path exists";
    return "nearest existing: " + p + (Files.isDirectory(p) ? (Files.isWritable(p) ? ", a folder" : ", a read-only folder") : ", a file");
  }

  /** Every run the chosen experiments need, each once: runs shared by two experiments (same net, lr, scale) train once. */
  static List<Training.Spec> specs(Options o, int trainSize) {
    List<Training.Spec> specs = new ArrayList<>();
    Set<Experiment> ex = o.experiments();
    for (boolean bn : new boolean[] {false, true}) {
      if (ex.contains(Experiment.CONVERGENCE)) specs.add(sigmoid(o, Experiment.CONVERGENCE, bn, o.lr(), 1, trainSize));
      if (ex.contains(Experiment.INIT)) for (double s : INIT_SCALES) specs.add(sigmoid(o, Experiment.INIT, bn, o.lr(), s, trainSize));
      if (ex.contains(Experiment.LR)) for (double lr : LR_SWEEP) specs.add(sigmoid(o, Experiment.LR, bn, lr, 1, trainSize));
      if (ex.contains(Experiment.STABILITY)) {
        specs.add(new Training.Spec("stability", Training.Net.SIGMOID_10X64, bn, 0, o.lr(), false, 1,
            o.epochsFor(Experiment.STABILITY), trainSize, true));
      }
      if (ex.contains(Experiment.REGULARIZATION)) {
        for (double dropout : new double[] {0, DROPOUT_RATE}) {
          specs.add(new Training.Spec("regularization", Training.Net.RELU_2X256, bn, dropout, ADAM_LR, true, 1,
              o.epochsFor(Experiment.REGULARIZATION), Math.min(REGULARIZATION_SAMPLES, trainSize), false));
        }
      }
    }
    // Deduplicate: a sigmoid run with the same settings serves convergence, init (x1) and the lr sweep.
    Map<Training.Spec, Training.Spec> unique = new LinkedHashMap<>();
    for (Training.Spec s : specs) unique.putIfAbsent(withoutExperiment(s), s);
    return new ArrayList<>(unique.values());
  }

  private static Training.Spec sigmoid(Options o, Experiment e, boolean bn, double lr, double scale, int trainSize) {
    return new Training.Spec(e.flag, Training.Net.SIGMOID_3X100, bn, 0, lr, false, scale, o.epochsFor(e), trainSize, false);
  }

  static Training.Spec withoutExperiment(Training.Spec s) {
    return new Training.Spec("", s.net(), s.batchNorm(), s.dropout(), s.lr(), s.adam(), s.initScale(), s.epochs(), s.trainSize(),
        s.gradientNorms());
  }

  /** Runs every spec on {@code o.threads()} threads; logs are printed whole, in spec order. Keyed by {@link #withoutExperiment}. */
  static Map<Training.Spec, Training.Result> train(List<Training.Spec> specs, Options o, Data d, PrintStream out) throws IOException {
    Map<Training.Spec, Training.Result> results = new LinkedHashMap<>();
    if (o.threads() == 1) {
      for (Training.Spec s : specs) {
        results.put(withoutExperiment(s), Training.run(s, d.train(), d.validation(), d.test(), o.batchSize(), out, o.verbose()));
      }
      return results;
    }
    // Concurrent runs write into buffers; a bar redrawn in a buffer is noise, so lines (or nothing).
    int verbose = o.verbose() == 0 ? 0 : 2;
    ExecutorService pool = Executors.newFixedThreadPool(o.threads());
    try {
      List<Future<Training.Result>> futures = new ArrayList<>();
      for (Training.Spec s : specs) {
        futures.add(pool.submit(() -> Training.run(s, d.train(), d.validation(), d.test(), o.batchSize(), null, verbose)));
      }
      for (int i = 0; i < specs.size(); i++) {
        Training.Result r = futures.get(i).get();
        out.print(r.log());
        out.flush();
        results.put(withoutExperiment(specs.get(i)), r);
      }
    } catch (ExecutionException e) {
      Throwable cause = e.getCause();
      if (cause instanceof RuntimeException re) throw re;
      throw new IOException("a training run failed: " + cause, cause);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException("interrupted", e);
    } finally {
      pool.shutdownNow();
    }
    return results;
  }

  /** Null for --help. Throws {@link UsageException} with a one-line message for bad flags. */
  static Options parse(String[] args, boolean terminal) {
    Set<Experiment> experiments = EnumSet.allOf(Experiment.class);
    int epochs = 0, batchSize = 64, threads = Math.min(2, Runtime.getRuntime().availableProcessors()), limit = 0, verbose = -1;
    double lr = 0.1, target = 0.80;
    Path data = null, out = Path.of("demo-output");
    for (int i = 0; i < args.length; i++) {
      String a = args[i];
      if (a.equals("--help") || a.equals("-h")) return null;
      if (!a.startsWith("--")) throw new UsageException("unexpected argument '" + a + "'");
      String name = a, value;
      int eq = a.indexOf('=');
      if (eq > 0) {
        name = a.substring(0, eq);
        value = a.substring(eq + 1);
      } else {
        if (i + 1 >= args.length) throw new UsageException(a + " needs a value");
        value = args[++i];
      }
      switch (name) {
        case "--experiment" -> experiments = experiments(value);
        case "--epochs" -> epochs = positiveInt(name, value);
        case "--batch-size" -> batchSize = positiveInt(name, value);
        case "--threads" -> threads = positiveInt(name, value);
        case "--limit" -> limit = positiveInt(name, value);
        case "--lr" -> lr = positiveDouble(name, value);
        case "--target" -> {
          target = positiveDouble(name, value);
          if (target > 1) throw new UsageException("--target must be in (0, 1], got " + value);
        }
        case "--verbose" -> {
          if (!value.matches("[012]")) throw new UsageException("--verbose must be 0, 1 or 2, got '" + value + "'");
          verbose = Integer.parseInt(value);
        }
        case "--data" -> data = Path.of(value);
        case "--out" -> out = Path.of(value);
        default -> throw new UsageException("unknown option " + name);
      }
    }
    if (verbose < 0) verbose = terminal && threads == 1 ? 1 : 2;
    return new Options(experiments, epochs, batchSize, lr, target, threads, data, out, limit, verbose);
  }

  private static Set<Experiment> experiments(String value) {
    Set<Experiment> set = EnumSet.noneOf(Experiment.class);
    for (String part : value.split(",")) {
      String p = part.trim();
      if (p.equals("all")) {
        set.addAll(EnumSet.allOf(Experiment.class));
        continue;
      }
      Experiment found = null;
      for (Experiment e : Experiment.values()) if (e.flag.equals(p)) found = e;
      if (found == null) {
        throw new UsageException("--experiment must be convergence, stability, regularization, init, lr or all, got '" + p + "'");
      }
      set.add(found);
    }
    return set;
  }

  private static int positiveInt(String name, String value) {
    try {
      int v = Integer.parseInt(value);
      if (v < 1) throw new NumberFormatException();
      return v;
    } catch (NumberFormatException e) {
      throw new UsageException(name + " must be a positive integer, got '" + value + "'");
    }
  }

  private static double positiveDouble(String name, String value) {
    try {
      double v = Double.parseDouble(value);
      if (!(v > 0) || Double.isInfinite(v)) throw new NumberFormatException();
      return v;
    } catch (NumberFormatException e) {
      throw new UsageException(name + " must be a positive number, got '" + value + "'");
    }
  }
}
