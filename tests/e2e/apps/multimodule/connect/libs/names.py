def valid_name(name):
    return name.isalnum()
