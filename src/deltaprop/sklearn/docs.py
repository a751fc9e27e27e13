"""The parameters and attributes the two estimators share, as numpydoc (each class's
``__doc__`` adds its own)."""

PARAMETERS_DOC = """
    Parameters
    ----------
    hidden_layer_sizes : int or tuple of int, default=(100,)
    activation : str, default="relu"
        Hidden activation: scikit-learn's ``identity``, ``logistic``, ``tanh``, ``relu``, or any
        of deltaprop's (``leaky_relu``, ``elu``, ``softplus``, ...).
    solver : {"adam", "sgd", "lbfgs"}, default="adam"
        Adam(learning_rate_init, beta_1, beta_2, epsilon), SGD(learning_rate_init, momentum,
        nesterovs_momentum), or LBFGS(max_fun, tol): full-batch L-BFGS-B through SciPy, for
        ``max_iter`` iterations, as scikit-learn's (``batch_size``, ``early_stopping`` and the
        stopping rule do not apply; a run that does not converge gives scikit-learn's
        "lbfgs failed to converge" ConvergenceWarning).
    alpha : float, default=1e-4
        L2 penalty with scikit-learn's scaling (see the module docstring).
    batch_size : int or "auto", default="auto"
        ``auto`` is min(200, n_samples).
    learning_rate : {"constant", "invscaling", "adaptive"}, default="constant"
        For ``solver="sgd"`` only (see the module docstring).
    learning_rate_init, power_t, max_iter, max_fun, shuffle, tol, n_iter_no_change, momentum,
    nesterovs_momentum, early_stopping, validation_fraction, beta_1, beta_2, epsilon, warm_start
        As in scikit-learn; ``max_iter`` is the number of epochs (L-BFGS iterations);
        ``n_iter_no_change=np.inf`` never stops on the rule. The validation split of
        ``early_stopping`` is scikit-learn's (``train_test_split``, stratified for a
        single-output classifier; fewer than 2 validation rows, or a class with a single
        sample, is refused).
    verbose : bool or int
        True: scikit-learn's lines on stdout (``Iteration 1, loss = 0.69314718``, ``Validation
        score: ...``, and the stopping rule's decision); 2 or more: deltaprop's per-epoch lines
        on stderr as well.
    random_state : int, RandomState or None
        Seeds the network (initialization, shuffling, dropout, validation split).
    batch_norm, dropout, restarts
        As in :class:`deltaprop.MLP` and :func:`deltaprop.fit`.
    init : str or callable, optional
        None: scikit-learn's initialization (``"sklearn"``, or ``"sklearn_logistic"`` for
        ``activation="logistic"``); otherwise any initializer of :class:`deltaprop.MLP`.
    n_jobs : int or None
        Restarts at once, through joblib: local processes, or a Dask cluster under
        ``joblib.parallel_config(backend="dask")``; None follows joblib's active configuration
        (1 without one). The result is the same as with ``n_jobs=1``.
    dtype : {None, numpy.float32, numpy.float64}
        Training precision; None keeps float32 input in float32 and trains anything else in
        float64.
    callbacks : list of deltaprop callbacks, optional
        Passed to every :func:`deltaprop.fit` call (``fit`` and ``partial_fit``). As in
        scikit-learn, ``partial_fit`` raises a ValueError with ``early_stopping=True`` and does
        not exist for ``solver="lbfgs"``.

    auto : bool, default=False
        True: :func:`deltaprop.tuning.auto_fit` chooses the network (its ladder of widths, the
        learning rate by the range test, early stopping on a 20% validation split, restarts
        averaged, a refit on every row), and the estimator keeps it as a plain network over the
        raw features (the standardization folded into the first layer; see
        :mod:`deltaprop.sklearn.auto`). The parameters it chooses (``hidden_layer_sizes``,
        ``solver``, ``learning_rate_init``, ``max_iter``, ``early_stopping``...) and those it does
        not offer (``warm_start``, ``batch_norm``, ``sample_weight``, several outputs...) must
        stay at their defaults: another value is refused by name. ``auto_report_`` says what was
        chosen and why; ``coefs_`` has the widths of the averaged network (the chosen widths
        times the number of runs); ``loss_curve_`` is empty.
    time_budget : float, default=120.0
        Seconds for ``auto=True``'s whole search.

    X may be a NumPy array, a DataFrame, or a scipy.sparse matrix (CSR or CSC; others are
    converted): sparse X is never made dense, its first layer's products are sparse (no
    StandardScaler centering then: use ``with_mean=False`` or MaxAbsScaler).

    Attributes
    ----------
    net_ : deltaprop.MLP
    history_ : deltaprop.History
        Of the last ``fit`` or ``partial_fit`` call.
    coefs_, intercepts_ : lists of ndarray
        Views of the network's parameters in scikit-learn's layout (W.T, shape (n_in, n_out)).
        Writable as scikit-learn's: ``est.coefs_[i] = W`` or ``est.coefs_ = [...]`` write into
        the network (shapes and finiteness checked).
    auto_report_ : deltaprop.tuning.AutoReport
        With ``auto=True``: each choice and its validation figure (``print`` it); None otherwise.
    n_features_in_, feature_names_in_, n_outputs_, n_layers_, out_activation_, n_iter_, t_,
    loss_, loss_curve_, best_loss_, validation_loss_curve_, validation_scores_,
    best_validation_score_
        As in scikit-learn; ``loss_curve_`` includes the L2 term (and exists for ``lbfgs`` too,
        one value per iteration); ``validation_loss_curve_`` is the validation loss per epoch
        and ``validation_scores_`` the validation accuracy or R^2 (with ``early_stopping`` only;
        for multilabel y the subset accuracy, as scikit-learn). The curves, ``t_`` and
        ``validation_scores_`` continue over warm starts and ``partial_fit`` calls; ``n_iter_``
        counts the last call's epochs, as scikit-learn's.
"""
