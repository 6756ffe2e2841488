/**
 * vecnorm: batch normalization kernels on the Java Vector API, and a Keras-shaped layer API.
 *
 * <p>The incubator module is optional at run time: without {@code --add-modules jdk.incubator.vector}
 * the library runs its scalar implementation and logs once how to enable the vector one.
 */
module dev.vecnorm {
  requires static jdk.incubator.vector;
  requires static java.management;
  requires static jdk.management;

  exports dev.vecnorm;
  exports dev.vecnorm.io;
  exports dev.vecnorm.layers;
  exports dev.vecnorm.model;
}
