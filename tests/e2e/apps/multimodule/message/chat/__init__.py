INITIALISED = True  # the package's __init__ ran
