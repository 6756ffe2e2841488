package dev.vecnorm.demo;

import dev.vecnorm.io.Idx;
import dev.vecnorm.layers.Tensor;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;

/** Fashion-MNIST as tensors: pixels scaled to [0, 1], labels as class indices. */
final class FashionMnist {
  static final String[] CLASSES = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"};

  record Split(Tensor images, Tensor labels) {
    int size() {
      return images.dim(0);
    }

    Split rows(int from, int to) {
      return new Split(slice(images, from, to), slice(labels, from, to));
    }
  }

  private FashionMnist() {}

  private static Split bundled;

  /** The 10k test set shipped inside the demo jar (see data/README.md for the licence); decoded once per JVM. */
  static synchronized Split bundledTestSet() throws IOException {
    if (bundled == null) bundled = decodeBundled();
    return bundled;
  }

  private static Split decodeBundled() throws IOException {
    String images = "t10k-images-idx3-ubyte.gz", labels = "t10k-labels-idx1-ubyte.gz";
    try (InputStream i = open(images); InputStream l = open(labels)) {
      return load(i, "bundled " + images, l, "bundled " + labels);
    }
  }

  private static InputStream open(String name) throws IOException {
    InputStream in = FashionMnist.class.getResourceAsStream("/dev/vecnorm/demo/data/" + name);
    if (in == null) throw new IOException("bundled data " + name + " is missing from the class path");
    return in;
  }

  /** {@code prefix} is "train" or "t10k"; files may be plain or .gz, as the dataset-fashion-mnist package installs them. */
  static Split fromDirectory(Path dir, String prefix) throws IOException {
    Path images = find(dir, prefix + "-images-idx3-ubyte"), labels = find(dir, prefix + "-labels-idx1-ubyte");
    try (InputStream i = Files.newInputStream(images); InputStream l = Files.newInputStream(labels)) {
      return load(i, images.toString(), l, labels.toString());
    }
  }

  private static Path find(Path dir, String base) throws IOException {
    for (String name : new String[] {base, base + ".gz"}) {
      Path p = dir.resolve(name);
      if (Files.isRegularFile(p)) return p;
    }
    throw new IOException("no " + base + "[.gz] in " + dir);
  }

  /** Each file's errors name that file: a damaged labels file is reported as the labels file. */
  private static Split load(InputStream imagesIn, String imagesName, InputStream labelsIn, String labelsName) throws IOException {
    Idx.Data images = Idx.read(imagesIn, imagesName);
    if (images.dims().length != 3 || images.dims()[1] != 28 || images.dims()[2] != 28) {
      throw new IOException(imagesName + ": expected N x 28 x 28 images, got dimensions " + java.util.Arrays.toString(images.dims()));
    }
    Idx.Data labels = Idx.read(labelsIn, labelsName);
    if (labels.dims().length != 1) {
      throw new IOException(labelsName + ": expected a 1-D list of labels, got dimensions " + java.util.Arrays.toString(labels.dims()));
    }
    if (images.count() != labels.count()) {
      throw new IOException(labelsName + " has " + labels.count() + " labels but " + imagesName + " has " + images.count() + " images");
    }
    int n = images.count(), pixels = images.dims()[1] * images.dims()[2];
    float[] x = new float[n * pixels];
    byte[] raw = images.values();
    for (int i = 0; i < x.length; i++) x[i] = (raw[i] & 0xff) / 255f;
    float[] y = new float[n];
    for (int i = 0; i < n; i++) {
      int label = labels.values()[i] & 0xff;
      if (label > 9) throw new IOException(labelsName + ": label " + label + " at index " + i + " is not a class in 0..9");
      y[i] = label;
    }
    return new Split(new Tensor(new int[] {n, pixels}, x), new Tensor(new int[] {n}, y));
  }

  static Tensor slice(Tensor t, int from, int to) {
    int per = t.size() / t.dim(0);
    int[] s = t.shape();
    s[0] = to - from;
    return new Tensor(s, java.util.Arrays.copyOfRange(t.data(), from * per, to * per));
  }
}
